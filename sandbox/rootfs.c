/* rootfs.c - the sandbox's filesystem: a fresh tmpfs root with read-only system binds, a minimal /etc and /dev,
 * a new /proc, a size-limited /tmp and a disk-bounded /workspace, then pivot_root into it.
 * Runs in the clone child inside its user and mount namespaces: async-signal-safe code only (no malloc, no stdio). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox_int.h"

/* The host's /tmp only serves as a mountpoint for the new root inside our private mount namespace;
 * every host path the sandbox needs is cloned (open_tree) before it is covered. */
#define NEWROOT "/tmp"

/* Bounded string join into dst (async-signal-safe stand-in for snprintf("%s%s")). */
static int join(char *dst, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 1 > n)
        return -1;
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb + 1);
    return 0;
}

/* mkdir -p for a path under NEWROOT; components are created 0755. */
static int mkdir_p(const char *path)
{
    char buf[600];
    size_t n = strlen(path);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    return 0;
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return w == (ssize_t)len ? 0 : -1;
}

/* Makes the mountpoint for a bind: a directory, or an empty file for a file bind. */
static int make_mountpoint(const char *path, bool is_file)
{
    char parent[600];
    size_t n = strlen(path);
    if (n >= sizeof(parent))
        return -1;
    memcpy(parent, path, n + 1);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (mkdir_p(parent) < 0)
            return -1;
    }
    if (!is_file)
        return mkdir_p(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return errno == EEXIST ? 0 : -1;
    close(fd);
    return 0;
}

/* Clones the host tree at src (recursively) as a detached mount with nosuid, nodev (unless it is one of the
 * device nodes we hand in) and, unless writable, read-only on every submount. The clone is taken before the new root covers anything. */
static int clone_tree(const char *src, bool writable, bool devices)
{
    int fd = open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0)
        return -1;
    struct mount_attr attr = {0};
    attr.attr_set = MOUNT_ATTR_NOSUID | (devices ? 0 : MOUNT_ATTR_NODEV) | (writable ? 0 : MOUNT_ATTR_RDONLY);
    if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int place(int tree_fd, const char *dst)
{
    return move_mount(tree_fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH);
}

/* A read-only bind of a path onto itself (for /proc/sys and friends). */
static int ro_self_bind(const char *path)
{
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
        return errno == ENOENT ? 0 : -1;
    struct mount_attr attr = {0};
    attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    return mount_setattr(AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof(attr));
}

#define FAIL(s)                                                                                                        \
    do {                                                                                                               \
        *ret_step = (s);                                                                                               \
        return -1;                                                                                                     \
    } while (0)

static int setup_dev(const int *dev_fds, const char **ret_step)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    char p[600];
    if (mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,nr_inodes=64,mode=755") < 0)
        FAIL("mount /dev");
    for (unsigned i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        if (join(p, sizeof(p), NEWROOT "/dev/", nodes[i]) < 0 || make_mountpoint(p, true) < 0)
            FAIL("create /dev node");
        if (place(dev_fds[i], p) < 0)
            FAIL("bind /dev node");
    }
    if (mkdir(NEWROOT "/dev/pts", 0755) < 0 || mkdir(NEWROOT "/dev/shm", 01777) < 0)
        FAIL("mkdir /dev/pts");
    /* A private devpts instance: the job's ptys are its own and it sees none of the host's. */
    if (mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620") < 0)
        FAIL("mount /dev/pts");
    if (symlink("pts/ptmx", NEWROOT "/dev/ptmx") < 0 || symlink("/proc/self/fd", NEWROOT "/dev/fd") < 0 ||
        symlink("/proc/self/fd/0", NEWROOT "/dev/stdin") < 0 || symlink("/proc/self/fd/1", NEWROOT "/dev/stdout") < 0 ||
        symlink("/proc/self/fd/2", NEWROOT "/dev/stderr") < 0)
        FAIL("symlink in /dev");
    return 0;
}

/* /proc for the new pid namespace; kernel knobs stay read-only even for the namespace's root. */
static int setup_proc(const char **ret_step)
{
    static const char *const ro[] = {NEWROOT "/proc/sys", NEWROOT "/proc/sysrq-trigger", NEWROOT "/proc/irq",
                                     NEWROOT "/proc/bus", NEWROOT "/proc/fs"};
    if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        FAIL("mount /proc");
    for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
        if (ro_self_bind(ro[i]) < 0)
            FAIL("make /proc/sys read-only");
    return 0;
}

/* /workspace: a tmpfs of the disk size when there is no host workspace; otherwise an overlay of the host
 * workspace (lower) and an upper dir on a tmpfs of the disk size, so the job's additions are bounded and the
 * host directory is only changed by the merge after the job. Both layers are staged under a hidden directory
 * and detached once the overlay holds its own clones of them, so the job can reach neither. */
#define STAGE NEWROOT "/.mrun-ws"
static int setup_workspace(const sb_plan *plan, int ws_tree, const char **ret_step, int *ret_upper_fd)
{
    const char *ws = NEWROOT "/workspace";
    if (!plan->has_ws) {
        if (mount("tmpfs", ws, "tmpfs", MS_NOSUID | MS_NODEV, plan->ws_opts) < 0)
            FAIL("mount workspace tmpfs");
        return 0;
    }
    if (mkdir(STAGE, 0700) < 0 || mkdir(STAGE "/lower", 0700) < 0 || mkdir(STAGE "/up", 0700) < 0)
        FAIL("mkdir workspace staging");
    /* overlayfs clones its lower layer, which it may do only for a mount in our own namespace: attach it. */
    if (plan->ws_is_tree) {
        if (move_mount(ws_tree, "", AT_FDCWD, STAGE "/lower", MOVE_MOUNT_F_EMPTY_PATH) < 0)
            FAIL("attach workspace");
    } else if (move_mount(ws_tree, "", AT_FDCWD, STAGE "/lower", MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        FAIL("attach workspace");
    }
    if (mount("tmpfs", STAGE "/up", "tmpfs", MS_NOSUID | MS_NODEV, plan->ws_opts) < 0)
        FAIL("mount workspace upper tmpfs");
    if (mkdir(STAGE "/up/upper", 0755) < 0 || mkdir(STAGE "/up/work", 0700) < 0)
        FAIL("mkdir overlay upper");
    int upper = open(STAGE "/up/upper", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (upper < 0)
        FAIL("open overlay upper");
    if (mount("overlay", ws, "overlay", MS_NOSUID | MS_NODEV, plan->overlay_opts) < 0 ||
        umount2(STAGE "/lower", MNT_DETACH) < 0 || umount2(STAGE "/up", MNT_DETACH) < 0 ||
        rmdir(STAGE "/lower") < 0 || rmdir(STAGE "/up") < 0 || rmdir(STAGE) < 0) {
        int saved = errno;
        close(upper);
        errno = saved;
        FAIL("mount workspace overlay");
    }
    *ret_upper_fd = upper;
    return 0;
}

static int setup_etc(const sb_plan *plan, const char **ret_step)
{
    if (mkdir_p(NEWROOT "/etc") < 0)
        FAIL("mkdir /etc");
    if (write_file(NEWROOT "/etc/passwd", plan->passwd, 0644) < 0 ||
        write_file(NEWROOT "/etc/group", plan->group, 0644) < 0 ||
        write_file(NEWROOT "/etc/hosts", plan->hosts, 0644) < 0 ||
        write_file(NEWROOT "/etc/hostname", plan->hostname, 0644) < 0)
        FAIL("write /etc");
    return 0;
}

static int place_binds(const sb_plan *plan, const int *bind_fds, unsigned from, unsigned to, const char **ret_step,
                       const char **ret_detail)
{
    char p[600];
    for (unsigned i = from; i < to; i++) {
        if (bind_fds[i] < 0)
            continue;
        if (join(p, sizeof(p), NEWROOT, plan->binds[i].dst) < 0 || make_mountpoint(p, plan->binds[i].is_file) < 0) {
            *ret_detail = plan->binds[i].dst;
            FAIL("create mountpoint");
        }
        if (place(bind_fds[i], p) < 0) {
            *ret_detail = plan->binds[i].dst;
            FAIL("place bind mount");
        }
        close(bind_fds[i]);
    }
    return 0;
}

int sb_rootfs_setup(const sb_plan *plan, int ws_tree, const char **ret_step, const char **ret_detail,
                    int *ret_upper_fd)
{
    static const char *const dev_nodes[] = {"/dev/null", "/dev/zero", "/dev/full",
                                            "/dev/random", "/dev/urandom", "/dev/tty"};
    int bind_fds[SB_MAX_BINDS];
    int dev_fds[6];
    char p[600];
    *ret_upper_fd = -1;
    *ret_detail = "";

    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        FAIL("make mounts private");

    /* Clone every host tree we need while the host paths are still visible. */
    for (unsigned i = 0; i < plan->n_binds; i++) {
        if (plan->binds[i].tree_fd >= 0) {
            bind_fds[i] = plan->binds[i].tree_fd;
            continue;
        }
        bind_fds[i] = clone_tree(plan->binds[i].src, plan->binds[i].writable, false);
        if (bind_fds[i] < 0 && !(plan->binds[i].optional && errno == ENOENT)) {
            *ret_detail = plan->binds[i].src;
            FAIL("bind host path");
        }
    }
    /* Without root the workspace is cloned here, by path: an fd the parent opened belongs to its mount
     * namespace, which ours may not bind from. */
    if (plan->has_ws && !plan->ws_is_tree) {
        ws_tree = clone_tree(plan->ws_path, true, false);
        if (ws_tree < 0) {
            *ret_detail = plan->ws_path;
            FAIL("bind workspace");
        }
    }
    for (unsigned i = 0; i < 6; i++) {
        dev_fds[i] = clone_tree(dev_nodes[i], true, true);
        if (dev_fds[i] < 0) {
            *ret_detail = dev_nodes[i];
            FAIL("bind device");
        }
    }

    if (mount("tmpfs", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, plan->root_opts) < 0)
        FAIL("mount new root");
    if (mkdir(NEWROOT "/proc", 0555) < 0 || mkdir(NEWROOT "/dev", 0755) < 0 || mkdir(NEWROOT "/tmp", 01777) < 0 ||
        mkdir(NEWROOT "/workspace", 0755) < 0 || mkdir(NEWROOT "/usr", 0755) < 0)
        FAIL("mkdir in new root");
    for (unsigned i = 0; i < plan->n_links; i++)
        if (join(p, sizeof(p), NEWROOT "/", plan->links[i].name) < 0 || symlink(plan->links[i].target, p) < 0)
            FAIL("symlink in new root");
    if (setup_etc(plan, ret_step) < 0)
        return -1;

    if (place_binds(plan, bind_fds, 0, plan->n_system_binds, ret_step, ret_detail) < 0)
        return -1;
    if (setup_dev(dev_fds, ret_step) < 0)
        return -1;
    for (unsigned i = 0; i < 6; i++)
        close(dev_fds[i]);
    if (mount("tmpfs", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, plan->shm_opts) < 0)
        FAIL("mount /dev/shm");
    if (mount("tmpfs", NEWROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, plan->tmp_opts) < 0)
        FAIL("mount /tmp");
    if (setup_workspace(plan, ws_tree, ret_step, ret_upper_fd) < 0)
        return -1;
    /* The user's binds go last so that one under /tmp or /workspace is not covered by those mounts. */
    if (place_binds(plan, bind_fds, plan->n_system_binds, plan->n_binds, ret_step, ret_detail) < 0)
        return -1;
    if (setup_proc(ret_step) < 0)
        return -1;

    /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves nothing of the host. */
    if (chdir(NEWROOT) < 0)
        FAIL("chdir new root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        FAIL("pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        FAIL("detach old root");
    if (chdir("/") < 0)
        FAIL("chdir /");
    /* The root itself becomes read-only: the job writes only to /workspace, /tmp and /dev/shm. */
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
        FAIL("remount root read-only");
    return 0;
}

int sb_net_lo_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    int r = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(s);
    errno = saved;
    return r;
}
