// Process containment for adapters (docs/protocol.md, "Process"). Linux: a child subreaper
// (prctl PR_SET_CHILD_SUBREAPER, Linux 3.4) keeps every process the adapter starts in the
// supervisor's subtree, and a lifeline pipe tells the supervisor when the harness is gone.
//
// The supervisor is forked from a multi-threaded process and never execs, so it may only make
// async-signal-safe calls (POSIX.1-2017, 2.4.3): raw system calls on stack buffers, no malloc, no
// stdio, no opendir (it allocates). /proc is read with open, getdents64 and read.
#define _GNU_SOURCE
#include "systolic_containment.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

// Appends "/proc/<pid>" (and "/task/<tid>" when tid > 0) and `tail` to `path`.
static void proc_path(char *path, pid_t pid, pid_t tid, const char *tail) {
    int at = 0;
    const char *head = "/proc/";
    while (*head) path[at++] = *head++;
    pid_t parts[2] = {pid, tid};
    for (int k = 0; k < 2; k++) {
        if (k == 1) {
            if (tid <= 0) break;
            const char *task = "/task/";
            while (*task) path[at++] = *task++;
        }
        char digits[16];
        int n = 0;
        unsigned long v = (unsigned long)parts[k];
        do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v && n < 15);
        while (n) path[at++] = digits[--n];
    }
    while (*tail) path[at++] = *tail++;
    path[at] = 0;
}

/* The number a /proc directory entry names, or 0 for anything else ("self", "cpuinfo", …). */
static long entry_number(const char *name) {
    if (*name < '1' || *name > '9') return 0;
    long n = 0;
    while (*name >= '0' && *name <= '9') n = n * 10 + (*name++ - '0');
    return *name ? 0 : n;
}

// One /proc/<pid>/stat: its parent and whether it is a zombie. 0 on success.
static int read_stat(pid_t pid, pid_t *parent, int *zombie) {
    char path[64], buf[512];
    proc_path(path, pid, 0, "/stat");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0) return -1;
    buf[got] = 0;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    char *close_paren = NULL;
    for (char *p = buf; *p; p++) if (*p == ')') close_paren = p;
    if (!close_paren || close_paren[1] != ' ') return -1;
    char state = close_paren[2];
    char *p = close_paren + 4;  // after "state "
    long ppid = 0;
    while (*p >= '0' && *p <= '9') ppid = ppid * 10 + (*p++ - '0');
    *parent = (pid_t)ppid;
    *zombie = state == 'Z' || state == 'X';
    return 0;
}

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

// A directory read with getdents64 into the reader's own buffer (no allocation: the supervisor
// may not allocate), one entry at a time.
typedef struct {
    _Alignas(8) char buf[4096];
    long got, off;
    int dir;
} dir_reader;

static void start_reading(dir_reader *r, int dir) {
    r->dir = dir;
    r->got = r->off = 0;
}

// The next entry's name, or NULL at the end.
static const char *next_entry(dir_reader *r) {
    if (r->off >= r->got) {
        r->got = syscall(SYS_getdents64, r->dir, r->buf, sizeof r->buf);
        r->off = 0;
        if (r->got <= 0) return NULL;
    }
    struct linux_dirent64 *d = (struct linux_dirent64 *)(r->buf + r->off);
    r->off += d->d_reclen;
    return d->d_name;
}

#define MAX_PROCS 8192

// Every live process's pid and parent (up to MAX_PROCS), from /proc. Returns the count or -1.
static int snapshot(pid_t *pids, pid_t *parents, int *zombies) {
    int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    dir_reader r;
    start_reading(&r, dir);
    int count = 0;
    for (const char *name; (name = next_entry(&r));) {
        long pid = entry_number(name);
        if (!pid || count >= MAX_PROCS) continue;
        pid_t parent;
        int zombie;
        if (read_stat((pid_t)pid, &parent, &zombie) != 0) continue;
        pids[count] = (pid_t)pid;
        parents[count] = parent;
        zombies[count] = zombie;
        count++;
    }
    close(dir);
    return count;
}

// Marks in `in_tree` the descendants of `root` within a snapshot.
static void mark_descendants(pid_t root, const pid_t *pids, const pid_t *parents, int count, char *in_tree) {
    for (int i = 0; i < count; i++) in_tree[i] = 0;
    int grew = 1;
    while (grew) {
        grew = 0;
        for (int i = 0; i < count; i++) {
            if (in_tree[i]) continue;
            int parent_in = parents[i] == root;
            for (int j = 0; !parent_in && j < count; j++) parent_in = in_tree[j] && pids[j] == parents[i];
            if (parent_in) { in_tree[i] = 1; grew = 1; }
        }
    }
}

int sb_descendants(pid_t root, pid_t *out, int capacity) {
    // Breadth first through /proc/<pid>/task/<tid>/children (Linux 3.5), which lists each
    // thread's children: cheap for a small tree, where a scan of all of /proc costs milliseconds.
    enum { QUEUE = 4096 };
    pid_t queue[QUEUE];
    int head = 0, tail = 0, found = 0;
    queue[tail++] = root;
    while (head < tail) {
        pid_t pid = queue[head++];
        char path[96];
        proc_path(path, pid, 0, "/task");
        int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) {
            if (pid == root) return -1;
            continue;  // it ended meanwhile
        }
        dir_reader r;
        start_reading(&r, dir);
        for (const char *name; (name = next_entry(&r));) {
            long tid = entry_number(name);
            if (!tid) continue;
            char children_path[128];
            proc_path(children_path, pid, (pid_t)tid, "/children");
            int fd = open(children_path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                if (pid == root) { close(dir); return -1; }
                continue;
            }
            char list[4096];
            ssize_t n = read(fd, list, sizeof list - 1);
            close(fd);
            if (n <= 0) continue;
            list[n] = 0;
            for (char *p = list; *p;) {
                while (*p == ' ' || *p == '\n') p++;
                long child = 0;
                while (*p >= '0' && *p <= '9') child = child * 10 + (*p++ - '0');
                if (child <= 0) { if (*p) p++; continue; }
                pid_t parent;
                int zombie = 0;
                if (read_stat((pid_t)child, &parent, &zombie) == 0 && zombie) continue;
                if (found < capacity) out[found] = (pid_t)child;
                found++;
                if (tail < QUEUE) queue[tail++] = (pid_t)child;
            }
        }
        close(dir);
    }
    return found;
}

// A /proc file held open and read again from offset 0: seq files are generated afresh on each
// read, so a check costs one system call instead of open, read and close.
static ssize_t reread(int *fd, pid_t pid, pid_t tid, const char *tail, char *buf, size_t size) {
    if (*fd < 0) {
        char path[96];
        proc_path(path, pid, tid, tail);
        *fd = open(path, O_RDONLY | O_CLOEXEC);
        if (*fd < 0) return -1;
    }
    ssize_t got = pread(*fd, buf, size - 1, 0);
    if (got >= 0) buf[got] = 0;
    return got;
}

int sb_quiet(pid_t supervisor, pid_t adapter, int fds[3]) {
    char buf[512];
    // The supervisor (single-threaded) has exactly one child, the adapter.
    ssize_t got = reread(&fds[0], supervisor, supervisor, "/children", buf, sizeof buf);
    if (got <= 0) return got < 0 ? -1 : 0;
    char *p = buf;
    long child = 0;
    while (*p >= '0' && *p <= '9') child = child * 10 + (*p++ - '0');
    if (child != adapter || p[0] != ' ' || p[1] != 0) return 0;
    // The adapter has one thread (field 20 of its stat, counted after the command's last ')') ...
    got = reread(&fds[1], adapter, 0, "/stat", buf, sizeof buf);
    if (got <= 0) return -1;
    char *close_paren = NULL;
    for (p = buf; *p; p++) if (*p == ')') close_paren = p;
    if (!close_paren) return -1;
    p = close_paren + 1;
    for (int field = 2; field < 20 && *p; p++) if (*p == ' ') field++;
    long threads = 0;
    while (*p >= '0' && *p <= '9') threads = threads * 10 + (*p++ - '0');
    if (threads != 1) return 0;
    // ... and that thread no child.
    got = reread(&fds[2], adapter, adapter, "/children", buf, sizeof buf);
    if (got < 0) return -1;
    return got == 0 ? 1 : 0;
}

// Kills every process below the supervisor until none is left, reaping as they die. Killed
// processes' children are reparented to the supervisor (a subreaper), so each round reaches
// deeper; a process forking as fast as it can still loses, since a killed process cannot fork.
static pid_t s_pids[MAX_PROCS], s_parents[MAX_PROCS];
static int s_zombies[MAX_PROCS];
static char s_in_tree[MAX_PROCS];

static void kill_subtree(pid_t adapter) {
    // The adapter first (the group would include the supervisor itself), then its tree.
    if (adapter > 0) kill(adapter, SIGKILL);
    pid_t self = getpid();
    for (int round = 0; round < 10000; round++) {
        int status;
        while (waitpid(-1, &status, WNOHANG) > 0) {}
        int count = snapshot(s_pids, s_parents, s_zombies);
        if (count < 0) {
            // No /proc: the supervisor's own children are all it can reach.
            while (waitpid(-1, &status, 0) > 0) {}
            return;
        }
        mark_descendants(self, s_pids, s_parents, count, s_in_tree);
        int alive = 0;
        for (int i = 0; i < count; i++) {
            if (!s_in_tree[i]) continue;
            alive++;
            if (!s_zombies[i]) kill(s_pids[i], SIGKILL);
        }
        if (!alive) return;
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
}

// Removes a directory and what it holds (files, and directories up to `depth` levels below) with
// raw system calls only: the supervisor may not allocate. Nothing is followed: the directory is
// opened O_NOFOLLOW, entries are unlinked, not resolved.
static void remove_tree_at(int parent, const char *name, int depth) {
    int dir = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) return;
    // Passes over the directory until one removes nothing ("." and ".." always remain to be
    // read): entries removed while reading may hide others from the same pass. Bounded, since
    // nothing should be adding entries once the adapter's tree is dead.
    for (int pass = 0; pass < 16; pass++) {
        int removed = 0;
        lseek(dir, 0, SEEK_SET);
        dir_reader r;
        start_reading(&r, dir);
        for (const char *name; (name = next_entry(&r));) {
            if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
            if (unlinkat(dir, name, 0) == 0) {
                removed++;
            } else if (errno == EISDIR && depth > 0) {
                remove_tree_at(dir, name, depth - 1);
                if (unlinkat(dir, name, AT_REMOVEDIR) == 0) removed++;
            }
        }
        if (!removed) break;
    }
    close(dir);
}

// Ends the supervisor as the adapter ended, so the harness's waitpid reads the adapter's status.
static void exit_like(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        kill(getpid(), sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static void supervise(const char *path, char *const argv[], char *const envp[], const int fds[5], int lifeline,
                      int report, int exec_error, const char *scratch) {
#ifdef __linux__
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
    // Default signal handling and an empty mask, whatever the harness set (its ignored SIGINT and
    // SIGTERM, its blocked signals): the adapter must die of the signals that kill processes.
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        signal(s, SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    // Descriptors: the adapter's 0 to 4 in place, the supervisor's own three above them, every
    // other descriptor the harness had (other adapters' pipes and lifelines among them) closed,
    // or a sibling adapter's supervisor would never see its lifeline close.
    int keep[3] = {lifeline, report, exec_error};
    for (int i = 0; i < 3; i++) {
        int moved = fcntl(keep[i], F_DUPFD_CLOEXEC, 16);
        keep[i] = moved;
    }
    int moved_fds[5];
    for (int i = 0; i < 5; i++) moved_fds[i] = fds[i] < 0 ? -1 : fcntl(fds[i], F_DUPFD_CLOEXEC, 32);
    for (int i = 0; i < 5; i++) {
        if (moved_fds[i] >= 0) dup2(moved_fds[i], i);
        else {
            int null_fd = open("/dev/null", O_RDWR);
            if (null_fd >= 0 && null_fd != i) { dup2(null_fd, i); close(null_fd); }
        }
    }
    struct rlimit lim;
    long top = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < 65536 ? (long)lim.rlim_cur : 65536;
    for (long fd = 5; fd < top; fd++) {
        if (fd == keep[0] || fd == keep[1] || fd == keep[2]) continue;
        close((int)fd);
    }
    lifeline = keep[0]; report = keep[1]; exec_error = keep[2];

    pid_t adapter = fork();
    if (adapter < 0) {
        int e = errno;
        (void)!write(exec_error, &e, sizeof e);
        _exit(127);
    }
    if (adapter == 0) {
#ifdef __linux__
        // If the supervisor is killed outright, the adapter goes with it.
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
#endif
        execve(path, argv, envp);
        int e = errno;
        (void)!write(exec_error, &e, sizeof e);
        _exit(127);
    }
    close(exec_error);
    (void)!write(report, &adapter, sizeof adapter);
    close(report);

    for (;;) {
        int status;
        pid_t done;
        while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
            if (done == adapter) {
                kill_subtree(0);
                exit_like(status);
            }
        }
        struct pollfd p = {lifeline, POLLIN, 0};
        int ready = poll(&p, 1, 20);
        if (ready > 0) {
            // The harness closed the lifeline or died: nothing of the adapter may outlive it. A
            // harness that ends the adapter writes a byte first; end of file without it means the
            // harness died (killed, even with SIGKILL) and cannot remove its scratch directory.
            char word = 0;
            ssize_t got;
            do { got = read(lifeline, &word, 1); } while (got < 0 && errno == EINTR);
            kill_subtree(adapter);
            if (got == 0 && scratch) {
                remove_tree_at(AT_FDCWD, scratch, 2);
                rmdir(scratch);
            }
            _exit(0);
        }
    }
}

pid_t sb_spawn_contained(const char *path, char *const argv[], char *const envp[], const int fds[5], int lifeline,
                         const char *scratch, pid_t *adapter) {
    int report[2], exec_error[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -1;
    if (pipe2(exec_error, O_CLOEXEC) != 0) { close(report[0]); close(report[1]); return -1; }
    pid_t supervisor = fork();
    if (supervisor < 0) {
        int e = errno;
        close(report[0]); close(report[1]); close(exec_error[0]); close(exec_error[1]);
        errno = e;
        return -1;
    }
    if (supervisor == 0) {
        setpgid(0, 0);
        close(report[0]);
        close(exec_error[0]);
        supervise(path, argv, envp, fds, lifeline, report[1], exec_error[1], scratch);
        _exit(127);
    }
    // Both sides set the group, so it is in place whichever runs first.
    setpgid(supervisor, supervisor);
    close(report[1]);
    close(exec_error[1]);
    // The exec's outcome: EOF once the adapter's copy closes on a successful exec, an errno if not.
    int e = 0;
    ssize_t got;
    do { got = read(exec_error[0], &e, sizeof e); } while (got < 0 && errno == EINTR);
    close(exec_error[0]);
    pid_t child = 0;
    do { got = read(report[0], &child, sizeof child); } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (e != 0 || got != sizeof child) {
        int status;
        kill(-supervisor, SIGKILL);
        waitpid(supervisor, &status, 0);
        errno = e != 0 ? e : ECHILD;
        return -1;
    }
    *adapter = child;
    return supervisor;
}
