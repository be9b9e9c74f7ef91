#!/usr/bin/env python3
"""Compares two results files case by case: verdicts, output digests, every deterministic figure
(value and unit), the set of figures and the check reports (all but their timing). For refactors
that must not change behaviour: run the same profile before and after, then
`scripts/same-results.py before.json after.json` (exit 1 on any difference)."""
import json, sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
ca={c['id']:c for c in a['cases']}; cb={c['id']:c for c in b['cases']}
assert ca.keys()==cb.keys(), (len(ca),len(cb))
diff=0; digests=0; metrics=0
for k in ca:
    x,y=ca[k],cb[k]
    if x['verdict']!=y['verdict']: print('verdict',k); diff+=1
    dx=(x.get('check') or {}).get('output_digest'); dy=(y.get('check') or {}).get('output_digest')
    if dx!=dy: print('digest',k); diff+=1
    if dx: digests+=1
    for m,v in x['metrics'].items():
        if v['deterministic']:
            metrics+=1
            if m not in y['metrics'] or y['metrics'][m]['value']!=v['value'] or y['metrics'][m]['unit']!=v['unit']: print('metric',k,m); diff+=1
    if set(x['metrics'])!=set(y['metrics']): print('metric set',k); diff+=1
    rx=(x.get('check') or {}); ry=(y.get('check') or {})
    rx={f:v for f,v in rx.items() if f!='seconds'}; ry={f:v for f,v in ry.items() if f!='seconds'}
    if json.dumps(rx,sort_keys=True)!=json.dumps(ry,sort_keys=True): print('check report',k); diff+=1
print(f"{len(ca)} cases, {digests} digests, {metrics} deterministic figures compared; {diff} differences")
sys.exit(1 if diff else 0)
