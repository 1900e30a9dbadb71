/* cli.c: the command-line layer every tool shares (contract section 2). */
#include "cli.h"
#include "names.h"
#include "threads.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

const char *cli_prog = "layerscope";
cli_common cli_opts = {"-", 0, 0, 0};
static int saved_argc;
static char **saved_argv;
static const char *saved_usage;

/* Output files being written, removed when the run fails. */
#define MAX_PENDING 16
static char *pending[MAX_PENDING];

/* Cleanups a failing run calls (cli_on_failure). */
#define MAX_CLEANUPS 4
static void (*cleanups[MAX_CLEANUPS])(void);

/* async-signal-safe: unlink and the registered cleanups only */
static void remove_pending(void)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i]) { unlink(pending[i]); pending[i] = NULL; }
	for (int i = 0; i < MAX_CLEANUPS; i++)
		if (cleanups[i]) cleanups[i]();
}

void cli_on_failure(void (*fn)(void))
{
	for (int i = 0; i < MAX_CLEANUPS; i++)
		if (!cleanups[i] || cleanups[i] == fn) { cleanups[i] = fn; return; }
	cli_die("too many cleanups registered");
}

static void on_signal(int sig)
{
	remove_pending();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* 1 while a progress bar holds the last line of stderr: a message then
 * starts on a line of its own. */
static volatile sig_atomic_t bar_on_line;

/* Async-signal-safe helpers of the SIGBUS handler: open, read, write only. */
static void write_str(const char *s)
{
	ssize_t w = write(STDERR_FILENO, s, strlen(s));
	(void)w;
}

static uintptr_t parse_hex(const char **p)
{
	uintptr_t v = 0;
	for (;; (*p)++) {
		char c = **p;
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return v;
		v = v << 4 | (uintptr_t)d;
	}
}

/* A line of /proc/self/maps, "START-END PERMS OFFSET DEV INODE [PATH]": 1 and
 * the path in path[cap] when it maps a file and holds a; -1 when it holds a
 * without a file; 0 when it does not hold a. */
static int maps_line(const char *line, uintptr_t a, char *path, size_t cap)
{
	uintptr_t start = parse_hex(&line);
	if (*line++ != '-')
		return 0;
	uintptr_t end = parse_hex(&line);
	if (a < start || a >= end)
		return 0;
	for (int field = 0; field < 4; field++) {   /* perms, offset, dev, inode */
		while (*line == ' ')
			line++;
		while (*line && *line != ' ')
			line++;
	}
	while (*line == ' ')
		line++;
	if (*line != '/')
		return -1;
	size_t k = 0;
	for (; line[k] && k < cap - 1; k++)   /* shown on one line: control characters as '?' */
		path[k] = (unsigned char)line[k] < 0x20 || line[k] == 0x7f ? '?' : line[k];
	path[k] = 0;
	return 1;
}

/* The file mapped at a, from /proc/self/maps: 1 with its path, else 0. */
static int mapped_file(uintptr_t a, char *path, size_t cap)
{
	static char buf[8192];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), found = 0;
	size_t have = 0;
	ssize_t n = 1;
	while (fd >= 0 && !found && n > 0) {
		n = read(fd, buf + have, sizeof buf - 1 - have);
		have += n > 0 ? (size_t)n : 0;
		buf[have] = 0;
		char *line = buf, *nl;
		while (!found && ((nl = strchr(line, '\n')) || (n <= 0 && *line))) {
			if (nl)
				*nl = 0;
			found = maps_line(line, a, path, cap);
			line = nl ? nl + 1 : line + strlen(line);
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof buf - 1)   /* a line longer than the buffer: dropped */
			have = 0;
	}
	if (fd >= 0)
		close(fd);
	return found == 1;
}

/* A SIGBUS at an address beyond the end of a mapped file (BUS_ADRERR): the
 * file was truncated while a reader used it (train-probe's input, a legacy
 * PyTorch checkpoint) -- say so and fail, as for any bad input. Any other
 * SIGBUS keeps its default. */
static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	static char path[4096];
	(void)uctx;
	if (si->si_code == BUS_ADRERR && mapped_file((uintptr_t)si->si_addr, path, sizeof path)) {
		remove_pending();
		if (bar_on_line)
			write_str("\n");
		write_str(cli_prog);
		write_str(": ");
		write_str(path);
		write_str(": changed or was truncated while being read (was the stage writing it run again?)\n");
		_exit(1);
	}
	signal(sig, SIG_DFL);   /* the fault repeats and kills as it would have */
}

static void handle(int sig, int keep_ignored)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (keep_ignored && sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
		return;
	sigaction(sig, &sa, NULL);
}

/* A failed run removes its half-written outputs on every signal whose
 * default is to end the process and that can be caught. SIGINT, SIGTERM
 * and SIGQUIT end it even when the parent ignored them (a shell's
 * background job); SIGHUP and the rest ignored stay ignored (nohup). */
static void install_signals(void)
{
	signal(SIGPIPE, SIG_IGN);   /* a closed pipe must surface as a write error, not a silent kill */
	handle(SIGINT, 0);
	handle(SIGTERM, 0);
	handle(SIGQUIT, 0);
	static const int others[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ};
	for (size_t i = 0; i < sizeof others / sizeof *others; i++)
		handle(others[i], 1);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

static mode_t creation_mode;   /* 0666 less the umask: what fopen would give a new file */

void cli_init(int argc, char **argv, const char *prog)
{
	cli_prog = prog;
	/* getopt permutes argv: keep the order as typed for `history` */
	saved_argc = argc;
	saved_argv = cli_malloc(sizeof *saved_argv * (size_t)(argc + 1));
	for (int i = 0; i < argc; i++) saved_argv[i] = cli_strdup(argv[i]);
	saved_argv[argc] = NULL;
	cli_opts.threads = threads_cpus();
	/* Large per-batch buffers come and go: keeping them in the heap spares the
	 * kernel zeroing fresh pages each time (a third of decode CPU, measured). */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mode_t mask = umask(0);   /* read while there is one thread */
	umask(mask);
	creation_mode = 0666 & ~mask;
	install_signals();
}

/* "TOOL: message" on one line, whatever the message holds: names from
 * files and command lines are escaped (err_escape), never written raw. No
 * allocation: this also reports running out of memory. */
static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
	char msg[2048], line[4 * sizeof msg];
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	if (n >= (int)sizeof msg)
		memcpy(msg + sizeof msg - 4, "...", 4);
	err_escape(line, sizeof line, msg);
	fflush(stdout);
	fprintf(stderr, "%s%s: %s%s\n", bar_on_line ? "\n" : "", cli_prog, prefix, line);
	bar_on_line = 0;
}

/* A failing run ends here without the exit handlers: what it still holds is
 * not a leak worth a LeakSanitizer report, and its half-written standard
 * output is dropped, as the run failed anyway. */
__attribute__((noreturn)) static void fail_exit(int status)
{
	fflush(stderr);
	_exit(status);
}

void cli_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage("", fmt, ap);
	va_end(ap);
	remove_pending();
	fail_exit(1);
}

void cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage("", fmt, ap);
	va_end(ap);
	if (saved_usage) fprintf(stderr, "Usage: %s\n", saved_usage);
	fprintf(stderr, "Try '%s --help' for more information.\n", cli_prog);
	remove_pending();
	fail_exit(2);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage("warning: ", fmt, ap);
	va_end(ap);
}

void cli_info(const char *fmt, ...)
{
	if (cli_opts.quiet) return;
	va_list ap;
	va_start(ap, fmt);
	vmessage("", fmt, ap);
	va_end(ap);
}

void *cli_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) cli_die("out of memory: cannot allocate %zu bytes", n);
	return p;
}

void *cli_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p) cli_die("out of memory: cannot allocate %zu x %zu bytes", n, size);
	return p;
}

void *cli_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) cli_die("out of memory: cannot allocate %zu bytes", n);
	return p;
}

char *cli_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(cli_malloc(n), s, n);
}

size_t cli_mul(size_t a, size_t b, const char *what)
{
	if (b && a > SIZE_MAX / b) cli_die("%s: size overflows (%zu x %zu)", what, a, b);
	return a * b;
}

/* ---- options ---- */

static int threads_opt;   /* -t value before it is applied */

static const cli_opt common_opts[] = {
	{"output", 'o', CLI_STR, &cli_opts.output, "FILE", "write to FILE ('-' = standard output)"},
	{"threads", 't', CLI_INT, &threads_opt, "N", "threads (default: the CPUs this process may use, from its affinity and cgroup quota)"},
	{"quiet", 'q', CLI_FLAG, &cli_opts.quiet, NULL, "no progress or information on standard error"},
	{"progress", 0, CLI_FLAG, &cli_opts.progress, NULL, "progress bar even when standard error is not a terminal"},
	{0},
};

static int count_opts(const cli_opt *o)
{
	int n = 0;
	while (o && o[n].name) n++;
	return n;
}

static void format_default(const cli_opt *o, char *buf, size_t n)
{
	buf[0] = 0;
	switch (o->kind) {
	case CLI_INT: snprintf(buf, n, "%d", *(int *)o->dst); break;
	case CLI_DOUBLE: snprintf(buf, n, "%g", *(double *)o->dst); break;
	case CLI_STR: if (*(const char **)o->dst) snprintf(buf, n, "%s", *(const char **)o->dst); break;
	case CLI_FLAG: case CLI_LIST: break;
	}
}

static void help_line(FILE *fp, const cli_opt *o)
{
	char lhs[64], def[64];
	snprintf(lhs, sizeof lhs, "%c%c%s --%s%s%s", o->shortname ? '-' : ' ', o->shortname ? o->shortname : ' ',
		 o->shortname ? "," : " ", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	format_default(o, def, sizeof def);
	fprintf(fp, "  %-26s %s", lhs, o->help);
	if (o->dst == (void *)&threads_opt) fprintf(fp, " [%d]", cli_opts.threads);
	else if (def[0]) fprintf(fp, " [%s]", def);
	fputc('\n', fp);
}

void cli_help(FILE *fp, const cli_opt *opts, const char *usage, const char *about)
{
	fprintf(fp, "Usage: %s\n", usage);
	if (about) fprintf(fp, "\n%s\n", about);
	fprintf(fp, "\nOptions:\n");
	for (int i = 0; i < count_opts(opts); i++) help_line(fp, &opts[i]);
	for (int i = 0; i < count_opts(common_opts); i++) help_line(fp, &common_opts[i]);
	fprintf(fp, "  -h, --help                 show this help and exit\n");
	fprintf(fp, "      --version              show the version and exit\n");
}

static void set_opt(const cli_opt *o, const char *arg)
{
	char *end;
	switch (o->kind) {
	case CLI_FLAG: *(int *)o->dst = 1; break;
	case CLI_STR: *(const char **)o->dst = arg; break;
	case CLI_LIST: {
		cli_list *l = o->dst;
		l->v = cli_realloc(l->v, sizeof *l->v * (size_t)(l->n + 1));
		l->v[l->n++] = arg;
		break;
	}
	case CLI_INT: {
		errno = 0;
		long v = strtol(arg, &end, 10);
		if (errno || *end || end == arg || v < INT32_MIN || v > INT32_MAX)
			cli_usage("option --%s: '%s' is not an integer", o->name, arg);
		*(int *)o->dst = (int)v;
		break;
	}
	case CLI_DOUBLE: {
		errno = 0;
		double v = strtod(arg, &end);
		if (errno || *end || end == arg || !isfinite(v))
			cli_usage("option --%s: '%s' is not a finite number", o->name, arg);
		*(double *)o->dst = v;
		break;
	}
	}
}

/* One getopt_long table for the tool's options and the common ones; val indexes all[]. */
int cli_parse(int argc, char **argv, const cli_opt *opts, const char *usage, const char *about)
{
	int n = count_opts(opts), nc = count_opts(common_opts), total = n + nc;
	const cli_opt **all = cli_malloc(sizeof *all * (size_t)total);
	struct option *lo = cli_calloc((size_t)total + 3, sizeof *lo);
	char shorts[3 * 64 + 4] = "h";
	size_t sl = strlen(shorts);
	for (int i = 0; i < total; i++) {
		const cli_opt *o = i < n ? &opts[i] : &common_opts[i - n];
		all[i] = o;
		lo[i] = (struct option){o->name, o->kind == CLI_FLAG ? no_argument : required_argument, NULL, 256 + i};
		if (o->shortname && sl < sizeof shorts - 3) {
			shorts[sl++] = o->shortname;
			if (o->kind != CLI_FLAG) shorts[sl++] = ':';
		}
	}
	shorts[sl] = 0;
	lo[total] = (struct option){"help", no_argument, NULL, 'h'};
	lo[total + 1] = (struct option){"version", no_argument, NULL, 1};
	saved_usage = usage;
	opterr = 0;
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		if (c == 'h') { cli_help(stdout, opts, usage, about); exit(0); }
		if (c == 1) { printf("%s (layerscope) %s\n", cli_prog, LAYERSCOPE_VERSION); exit(0); }
		if (c == '?' || c == ':') {
			if (optopt && optopt < 256) cli_usage("unknown option or missing argument: -%c", optopt);
			cli_usage("unknown option or missing argument: %s", argv[optind - 1]);
		}
		const cli_opt *o = NULL;
		if (c >= 256) o = all[c - 256];
		else for (int i = 0; i < total && !o; i++) if (all[i]->shortname == c) o = all[i];
		set_opt(o, optarg);
	}
	free(all);
	free(lo);
	if (threads_opt < 0) cli_usage("option --threads: %d is not a thread count", threads_opt);
	if (threads_opt > 0) cli_opts.threads = threads_opt;
	cli_apply_threads();
	cli_out_check(cli_opts.output, !cli_text_output);   /* before any work is spent */
	return optind;
}

void cli_apply_threads(void)
{
	threads_set_blas(cli_opts.threads);
}

/* ---- input and output ---- */

FILE *cli_open_in(const char *path)
{
	if (!path || strcmp(path, "-") == 0) {
		if (isatty(STDIN_FILENO)) cli_usage("refusing to read binary data from a terminal: give a file or a pipe");
		return stdin;
	}
	FILE *fp = fopen(path, "rb");
	if (!fp) cli_die("%s: cannot open: %s", path, strerror(errno));
	return fp;
}

int cli_text_output;

/* How an output path is written: a regular file (or none yet) is replaced
 * through a temporary sibling; anything else in place. */
enum out_how { OUT_REPLACE, OUT_IN_PLACE, OUT_OWN_FD };
typedef struct {
	enum out_how how;
	char *file;   /* REPLACE: the file replaced, symlinks resolved; IN_PLACE: what to open */
	int fd;       /* OWN_FD: this process's descriptor the path names */
} out_dest;

static char *folder_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	if (!slash) return cli_strdup(".");
	if (slash == file) return cli_strdup("/");
	char *d = cli_strdup(file);
	d[slash - file] = 0;
	return d;
}

/* 1 when FILE names a descriptor: its folder is /proc/PID/fd (or a task's),
 * which is where /dev/fd, /dev/stdout and /proc/self/fd lead; *own = 1 and
 * *fd = N when the descriptor is this process's. */
static int descriptor_path(const char *file, int *own, int *fd)
{
	const char *slash = strrchr(file, '/');
	if (!slash) return 0;
	char *dir = folder_of(file), real[PATH_MAX];
	int is = realpath(dir, real) && !strncmp(real, "/proc/", 6) && strlen(real) > 9 &&
		 !strcmp(real + strlen(real) - 3, "/fd");
	free(dir);
	if (!is) return 0;
	char mine[64], *end;
	snprintf(mine, sizeof mine, "/proc/%ld/", (long)getpid());
	long n = strtol(slash + 1, &end, 10);
	*own = !strncmp(real, mine, strlen(mine)) && slash[1] && !*end && n >= 0 && n <= INT32_MAX;
	*fd = (int)n;
	return 1;
}

/* What writing PATH means: symlinks are followed to the file they name
 * (replaced, the links kept); a device, FIFO, socket or descriptor is
 * written in place. Dies on a folder or a path that cannot be followed. */
static out_dest out_resolve(const char *path)
{
	out_dest d = {OUT_REPLACE, cli_strdup(path), -1};
	for (int hops = 0;; hops++) {
		int own;
		if (descriptor_path(d.file, &own, &d.fd)) {
			d.how = own ? OUT_OWN_FD : OUT_IN_PLACE;
			return d;
		}
		struct stat st;
		if (lstat(d.file, &st) != 0) {
			if (errno == ENOENT) return d;
			cli_die("%s: cannot write: %s", path, strerror(errno));
		}
		if (S_ISDIR(st.st_mode)) cli_die("%s: cannot write: it is a folder", path);
		if (!S_ISLNK(st.st_mode)) {
			if (!S_ISREG(st.st_mode)) d.how = OUT_IN_PLACE;
			return d;
		}
		char link[PATH_MAX];
		ssize_t n = readlink(d.file, link, sizeof link - 1);
		if (hops == 40 || n < 0) cli_die("%s: cannot write: %s", path, strerror(n < 0 ? errno : ELOOP));
		link[n] = 0;
		char *next;
		if (link[0] == '/' || !strchr(d.file, '/')) {
			next = cli_strdup(link);
		} else {   /* relative to the link's folder */
			char *dir = folder_of(d.file);
			next = cli_malloc(strlen(dir) + strlen(link) + 2);
			sprintf(next, "%s/%s", dir, link);
			free(dir);
		}
		free(d.file);
		d.file = next;
	}
}

void cli_out_check(const char *path, int binary)
{
	if (!path || strcmp(path, "-") == 0) {
		if (binary && isatty(STDOUT_FILENO))
			cli_usage("refusing to write binary data to a terminal: use -o FILE or a pipe");
		return;
	}
	out_dest d = out_resolve(path);
	if (d.how == OUT_REPLACE) {
		char *dir = folder_of(d.file);
		if (access(dir, W_OK | X_OK) != 0) cli_die("%s: cannot create: folder %s: %s", path, dir, strerror(errno));
		free(dir);
	} else if (d.how == OUT_OWN_FD) {
		int fl = fcntl(d.fd, F_GETFL);
		if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
			cli_die("%s: cannot write: %s", path, fl < 0 ? strerror(errno) : "descriptor open for reading only");
		if (binary && isatty(d.fd))
			cli_usage("refusing to write binary data to a terminal (%s): use -o FILE or a pipe", path);
	} else if (access(d.file, W_OK) != 0) {
		cli_die("%s: cannot write: %s", path, strerror(errno));
	}
	free(d.file);
}

struct cli_out {
	FILE *fp;
	char *path;     /* as given, for messages; NULL: standard output */
	char *target;   /* the regular file replaced; NULL: written in place */
	char *tmp;      /* its temporary sibling, renamed over it at the close */
	int slot;
};

/* Temporary outputs are named TARGET.PID.HOST.XXXXXX.tmp (HOST without
 * dots): unique to the process, and traceable to it. */
static void host_tag(char *buf, size_t n)
{
	if (gethostname(buf, n) != 0) buf[0] = 0;
	buf[n - 1] = 0;
	for (char *p = buf; *p; p++)
		if (*p == '.' || *p == '/' || (unsigned char)*p < 0x21) *p = '_';
	if (!buf[0]) snprintf(buf, n, "localhost");
}

/* Removes TARGET.PID.HOST.XXXXXX.tmp files of this host whose process no
 * longer runs (killed by SIGKILL, or a crash): regular files of this user only. */
static void remove_stale(const char *target)
{
	char *dir = folder_of(target), host[64];
	const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	size_t bl = strlen(base);
	host_tag(host, sizeof host);
	DIR *dp = opendir(dir);
	for (struct dirent *e; dp && (e = readdir(dp));) {
		const char *n = e->d_name, *p = n + bl + 1;
		if (strncmp(n, base, bl) || n[bl] != '.') continue;
		char *end;
		long pid = strtol(p, &end, 10);
		size_t hl = strlen(host), rest = strlen(end);
		if (end == p || pid <= 0 || *end != '.' || rest != 1 + hl + 1 + 6 + 4 || strncmp(end + 1, host, hl) ||
		    end[1 + hl] != '.' || strcmp(end + rest - 4, ".tmp"))
			continue;
		struct stat st;
		if (pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH ||
		    fstatat(dirfd(dp), n, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
			continue;
		if (unlinkat(dirfd(dp), n, 0) == 0)
			cli_info("removed %s/%s, left by process %ld, which no longer runs", dir, n, pid);
	}
	if (dp) closedir(dp);
	free(dir);
}

static void out_temp(cli_out *o)
{
	char host[64];
	host_tag(host, sizeof host);
	size_t n = strlen(o->target) + strlen(host) + 48;
	o->tmp = cli_malloc(n);
	snprintf(o->tmp, n, "%s.%ld.%s.XXXXXX.tmp", o->target, (long)getpid(), host);
	for (int i = 0; i < MAX_PENDING && o->slot < 0; i++)
		if (!pending[i]) { pending[i] = o->tmp; o->slot = i; }
	if (o->slot < 0) cli_die("too many output files open");
	int fd = mkostemps(o->tmp, 4, O_CLOEXEC);
	if (fd < 0) { pending[o->slot] = NULL; cli_die("%s: cannot create a temporary file beside it: %s", o->path, strerror(errno)); }
	if (fchmod(fd, creation_mode) != 0 || !(o->fp = fdopen(fd, "wb")))
		cli_die("%s: cannot create a temporary file beside it: %s", o->path, strerror(errno));
}

static cli_out *out_open(const char *path, int binary)
{
	cli_out *o = cli_calloc(1, sizeof *o);
	o->slot = -1;
	cli_out_check(path, binary);
	if (!path || strcmp(path, "-") == 0) {
		o->fp = stdout;
		return o;
	}
	o->path = cli_strdup(path);
	out_dest d = out_resolve(path);
	if (d.how == OUT_REPLACE) {
		o->target = d.file;
		remove_stale(o->target);
		out_temp(o);
		return o;
	}
	fflush(stdout);
	int fd = d.how == OUT_OWN_FD ? fcntl(d.fd, F_DUPFD_CLOEXEC, 3) : open(d.file, O_WRONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || !(o->fp = fdopen(fd, "wb"))) cli_die("%s: cannot write: %s", path, strerror(errno));
	if (binary && isatty(fd)) cli_usage("refusing to write binary data to a terminal (%s): use -o FILE or a pipe", path);
	free(d.file);
	return o;
}

cli_out *cli_out_open(const char *path) { return out_open(path, 1); }
cli_out *cli_out_open_text(const char *path) { return out_open(path, 0); }
FILE *cli_out_fp(cli_out *o) { return o->fp; }

void cli_out_close(cli_out *o)
{
	const char *name = o->path ? o->path : "standard output";
	int bad = fflush(o->fp) != 0 || ferror(o->fp);
	int err = errno;
	if (fclose(o->fp) != 0 && !bad) {
		bad = 1;
		err = errno;
	}
	if (bad) cli_die("%s: write error: %s", name, strerror(err ? err : EIO));
	if (o->tmp) {
		if (rename(o->tmp, o->target) != 0) cli_die("%s: cannot rename from %s: %s", o->path, o->tmp, strerror(errno));
		pending[o->slot] = NULL;
	}
	free(o->path);
	free(o->target);
	free(o->tmp);
	free(o);
}

/* ---- safetensors, dying on error ---- */

const char *cli_name(const char *path) { return !path || strcmp(path, "-") == 0 ? "standard input" : path; }

st_file *cli_load_some(const char *path, int (*keep)(const char *, void *), void *ctx)
{
	char err[ERR_LEN];
	FILE *fp = cli_open_in(path);
	st_file *f = st_load_fp(fp, fp != stdin, keep, ctx, err);
	if (!f) cli_die("%s: %s", cli_name(path), err);
	return f;
}

st_file *cli_load(const char *path) { return cli_load_some(path, NULL, NULL); }

static void json_quote_arg(char **s, size_t *n, const char *arg)
{
	int plain = *arg != 0;
	for (const char *p = arg; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/:=+@%", *p)) plain = 0;
	size_t need = strlen(arg) * 4 + 4;
	*s = cli_realloc(*s, *n + need);
	if (plain) { *n += (size_t)sprintf(*s + *n, "%s", arg); return; }
	(*s)[(*n)++] = '\'';
	for (const char *p = arg; *p; p++) {
		if (*p == '\'') *n += (size_t)sprintf(*s + *n, "'\\''");
		else (*s)[(*n)++] = *p;
	}
	(*s)[(*n)++] = '\'';
	(*s)[*n] = 0;
}

void cli_history_append(st_file *f)
{
	char *line = NULL;
	size_t n = 0;
	for (int i = 0; i < saved_argc; i++) {
		if (i) { line = cli_realloc(line, n + 2); line[n++] = ' '; line[n] = 0; }
		json_quote_arg(&line, &n, i ? saved_argv[i] : cli_prog);
	}
	const char *old = st_meta_get(f, "history");
	cJSON *a = old ? cJSON_Parse(old) : NULL;
	if (!cJSON_IsArray(a)) { cJSON_Delete(a); a = cJSON_CreateArray(); }
	cJSON_AddItemToArray(a, cJSON_CreateString(line ? line : cli_prog));
	char *s = cJSON_PrintUnformatted(a);
	st_meta_set(f, "history", s);
	cJSON_free(s);
	cJSON_Delete(a);
	free(line);
}

void cli_write(st_file *f, const char *path)
{
	char err[ERR_LEN];
	cli_history_append(f);
	cli_out *o = cli_out_open(path);
	if (st_write(f, cli_out_fp(o), err)) cli_die("%s: %s", o->path ? o->path : "standard output", err);
	cli_out_close(o);
}

st_tensor *cli_get(st_file *f, const char *fname, const char *name)
{
	st_tensor *t = st_find(f, name);
	if (!t) cli_die("%s: missing tensor '%s'", cli_name(fname), name);
	return t;
}

void cli_check_shape(const st_tensor *t, const char *fname, int ndim, const int64_t *dims)
{
	int ok = t->ndim == ndim;
	for (int i = 0; ok && dims && i < ndim; i++)
		if (dims[i] >= 0 && dims[i] != t->shape[i]) ok = 0;
	if (ok) return;
	char got[160], want[160];
	int64_t any[ST_MAX_DIMS];
	for (int i = 0; i < ST_MAX_DIMS; i++) any[i] = -1;
	st_shape_str(got, sizeof got, t->ndim, t->shape);
	st_shape_str(want, sizeof want, ndim, dims ? dims : any);
	cli_die("%s: tensor '%s' has shape %s, expected %s", cli_name(fname), t->name, got, want);
}

float *cli_f32(const st_tensor *t, const char *fname, int finite)
{
	float *x = st_to_f32(t);
	if (!x) cli_die("%s: tensor '%s' is too large", cli_name(fname), t->name);
	if (!finite) return x;
	int64_t n = st_numel(t);
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(x[i])) {
			double v = x[i];
			free(x);
			cli_die("%s: tensor '%s' has a non-finite value %g at flat index %" PRId64, cli_name(fname), t->name, v, i);
		}
	return x;
}

void cli_forward_tensor(st_file *dst, const st_file *src, const char *name)
{
	const st_tensor *t = st_find(src, name);
	if (!t || st_find(dst, name)) return;
	st_add(dst, name, t->dtype, t->ndim, t->shape, t->data, 0);
}

void cli_forward_context(st_file *dst, const st_file *src)
{
	for (int i = 0; i < CTX_N; i++) cli_forward_tensor(dst, src, context_names[i]);
	st_meta_copy(dst, src);
}

/* ---- progress ---- */

device_kind cli_device(const char *name)
{
	char err[ERR_LEN];
	device_kind d;
	if (device_parse(name, &d, err))
		cli_usage("option --device: %s", err);
	if (d == DEVICE_CUDA) {
		if (gpu_open(err))
			cli_die("--device cuda: %s", err);
		cli_info("device: %s", gpu_describe());
	}
	return d;
}

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

struct cli_progress {
	const char *what, *unit;
	uint64_t total;
	uint64_t drawn;       /* the count last drawn */
	double start, last;
	int shown;
};

cli_progress *cli_progress_start(const char *what, uint64_t total, const char *unit)
{
	if (cli_opts.quiet || (!cli_opts.progress && !isatty(STDERR_FILENO))) return NULL;
	cli_progress *p = cli_calloc(1, sizeof *p);
	p->what = what;
	p->unit = unit;
	p->total = total;
	p->start = cli_now();
	return p;
}

static void format_seconds(char *buf, size_t n, double s)
{
	long t = (long)(s + 0.5);
	if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void cli_progress_update(cli_progress *p, uint64_t done)
{
	if (!p) return;
	double now = cli_now();
	if (p->shown && now - p->last < 0.2 && done < p->total) return;
	p->last = now;
	p->shown = 1;
	p->drawn = done;
	double el = now - p->start, rate = el > 0 ? (double)done / el : 0;
	char eta[32] = "?", spent[32];
	if (rate > 0 && p->total >= done) format_seconds(eta, sizeof eta, (double)(p->total - done) / rate);
	format_seconds(spent, sizeof spent, el);
	double pct = p->total ? 100.0 * (double)done / (double)p->total : 100.0;
	char bar[21];
	int fill = (int)(pct / 5);
	for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
	bar[20] = 0;
	fprintf(stderr, "\r%s [%s] %5.1f%% %" PRIu64 "/%" PRIu64 " %s, %.1f %s/s, %s elapsed, %s left \033[K",
		p->what, bar, pct, done, p->total, p->unit, rate, p->unit, spent, eta);
	fflush(stderr);
	bar_on_line = 1;
}

void cli_progress_end(cli_progress *p)
{
	if (!p) return;
	if (!p->shown || p->drawn != p->total) {
		p->shown = 0;   /* draw the final count now, whatever the time since the last */
		cli_progress_update(p, p->total);
	}
	fputc('\n', stderr);
	bar_on_line = 0;
	free(p);
}
