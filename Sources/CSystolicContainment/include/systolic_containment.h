#ifndef SYSTOLIC_CONTAINMENT_H
#define SYSTOLIC_CONTAINMENT_H
// Starting an adapter so that nothing it starts can outlive it, the harness, or the case it ran.
#include <sys/types.h>

/// Starts `path` with `argv` and `envp` under a supervisor process and returns the supervisor's
/// pid (the leader of a new process group that also holds the adapter), or -1 with errno set.
///
/// `fds[0..4]` become the adapter's descriptors 0 to 4. `lifeline` is the read end of a pipe whose
/// write end only the harness holds: when it closes (the harness ends the adapter, exits, or is
/// killed, even with SIGKILL) the supervisor kills every process descended from it, however they
/// left the group (setsid, double fork), and exits. The supervisor is a child subreaper, so such
/// processes stay its descendants. When the adapter exits on its own the supervisor kills what it
/// left behind and exits with the adapter's own status (or dies by its signal), so waitpid on the
/// returned pid reads the adapter's status. `*adapter` receives the adapter's own pid.
///
/// The harness ends the adapter by writing one byte to the lifeline, then closing it. End of file
/// without that byte means the harness died; the supervisor then also removes `scratch` (the
/// harness's scratch directory, NULL for none), which a killed harness cannot.
///
/// A failed exec is reported like posix_spawn's: -1 with errno set to the exec's error.
pid_t sb_spawn_contained(const char *path, char *const argv[], char *const envp[], const int fds[5], int lifeline,
                         const char *scratch, pid_t *adapter);

/// Writes up to `capacity` pids of the processes descended from `root` (not `root` itself) into
/// `out` and returns how many there are (which may exceed `capacity`), or -1 when /proc cannot be
/// read. Zombies are not counted: they run nothing and hold nothing.
int sb_descendants(pid_t root, pid_t *out, int capacity);

/// The quick check before a reply is accepted: 1 when the supervisor's only child is the adapter,
/// which runs one thread and has no child (nothing started for the case is running), 0 when only
/// `sb_descendants` can tell, -1 when /proc cannot be read. `fds` holds three /proc files kept open
/// between calls (-1 until the first; the caller closes them).
int sb_quiet(pid_t supervisor, pid_t adapter, int fds[3]);

#endif
