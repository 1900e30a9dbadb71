/* threads_cpus.c: how many CPUs this process may use (see threads.h).
 *
 * The machine's core count is the wrong default under a scheduler: a Slurm
 * job given 4 of 64 cores, or a container with a quota of 2 CPUs, would run
 * 64 threads that fight over 4. The affinity mask says which cores the
 * process may run on; the cgroup quota how much CPU time it gets in all,
 * which may be less than its cores (Kubernetes, Slurm with ConstrainCores
 * off). */
#include "threads.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { PATH_LEN = 4096, LINE_LEN = 8192 };

static int affinity_cpus(void)
{
	/* The mask's size must cover the kernel's CPU count, unknown beforehand:
	 * grow it until the call stops saying EINVAL. */
	for (int ncpu = 1024; ncpu <= (1 << 20); ncpu *= 2) {
		cpu_set_t *set = CPU_ALLOC(ncpu);
		if (!set) break;
		size_t size = CPU_ALLOC_SIZE(ncpu);
		CPU_ZERO_S(size, set);
		int ok = sched_getaffinity(0, size, set) == 0, n = ok ? CPU_COUNT_S(size, set) : 0;
		CPU_FREE(set);
		if (ok) return n > 0 ? n : 1;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* mountinfo writes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++, w++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else *w = *r;
	}
	*w = 0;
}

static int has_token(const char *list, const char *tok)
{
	size_t n = strlen(tok);
	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, tok, n) && (p[n] == ',' || p[n] == 0 || p[n] == '\n')) return 1;
	return 0;
}

/* The process's cgroup path in the hierarchy that holds the cpu controller:
 * v2's ("0::PATH") when v2 is 1, else v1's ("ID:...,cpu,...:PATH"). */
static int cgroup_path(const char *root, int v2, char *path)
{
	char file[PATH_LEN], line[LINE_LEN];
	snprintf(file, sizeof file, "%s/proc/self/cgroup", root);
	FILE *fp = fopen(file, "r");
	if (!fp) return -1;
	int found = 0;
	while (!found && fgets(line, sizeof line, fp)) {
		line[strcspn(line, "\n")] = 0;
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2 || c2[1] != '/') continue;
		*c1 = *c2 = 0;
		found = v2 ? !strcmp(line, "0") && c1 + 1 == c2 : has_token(c1 + 1, "cpu");
		if (found) snprintf(path, PATH_LEN, "%s", c2 + 1);
	}
	fclose(fp);
	return found ? 0 : -1;
}

/* Where the hierarchy is mounted (point) and which of its folders is the
 * mount's root (mroot: a container sees its own cgroup as "/"). */
static int cgroup_mount(const char *root, int v2, char *point, char *mroot)
{
	char file[PATH_LEN], line[LINE_LEN];
	snprintf(file, sizeof file, "%s/proc/self/mountinfo", root);
	FILE *fp = fopen(file, "r");
	if (!fp) return -1;
	int found = 0;
	while (!found && fgets(line, sizeof line, fp)) {
		/* ID PARENT MAJ:MIN ROOT POINT OPTIONS [TAGS...] - TYPE SOURCE SUPER */
		char *f[5], *save = NULL, *sep = strstr(line, " - ");
		if (!sep) continue;
		*sep = 0;
		int n = 0;
		for (char *t = strtok_r(line, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save)) f[n++] = t;
		char *type = strtok_r(sep + 3, " ", &save), *src = strtok_r(NULL, " ", &save), *super = strtok_r(NULL, " \n", &save);
		if (n < 5 || !type || !src || !super) continue;
		found = v2 ? !strcmp(type, "cgroup2") : !strcmp(type, "cgroup") && has_token(super, "cpu");
		if (!found) continue;
		unescape_octal(f[3]);
		unescape_octal(f[4]);
		snprintf(mroot, PATH_LEN, "%s", f[3]);
		snprintf(point, PATH_LEN, "%s%s", root, f[4]);
	}
	fclose(fp);
	return found ? 0 : -1;
}

/* CPUs a folder's quota allows, or 0 for none */
static double folder_quota(const char *dir, int v2)
{
	char file[2 * PATH_LEN + 32], a[64] = "", b[64] = "";
	FILE *fp;
	double quota = 0, period = 0;
	if (v2) {
		snprintf(file, sizeof file, "%s/cpu.max", dir);
		if (!(fp = fopen(file, "r"))) return 0;
		int ok = fscanf(fp, "%63s %63s", a, b) == 2;
		fclose(fp);
		if (!ok || !strcmp(a, "max")) return 0;
	} else {
		snprintf(file, sizeof file, "%s/cpu.cfs_quota_us", dir);
		if (!(fp = fopen(file, "r"))) return 0;
		int ok = fscanf(fp, "%63s", a) == 1;
		fclose(fp);
		snprintf(file, sizeof file, "%s/cpu.cfs_period_us", dir);
		if (!ok || !(fp = fopen(file, "r"))) return 0;
		ok = fscanf(fp, "%63s", b) == 1;
		fclose(fp);
		if (!ok) return 0;
	}
	char *ea, *eb;
	quota = strtod(a, &ea);
	period = strtod(b, &eb);
	if (*ea || *eb || !(quota > 0) || !(period > 0) || !isfinite(quota / period)) return 0;
	return quota / period;
}

/* The smallest quota from the process's folder up to the mount's root */
static double hierarchy_quota(const char *root, int v2)
{
	char path[PATH_LEN], point[PATH_LEN], mroot[PATH_LEN], dir[2 * PATH_LEN];
	if (cgroup_path(root, v2, path) || cgroup_mount(root, v2, point, mroot)) return 0;
	size_t nr = strlen(mroot);
	const char *rel = path;
	if (strcmp(mroot, "/") && !strncmp(path, mroot, nr) && (path[nr] == '/' || path[nr] == 0)) rel = path + nr;
	else if (strcmp(mroot, "/")) rel = "";   /* a namespace's own view: the mount is its cgroup */
	if (!strcmp(rel, "/")) rel = "";
	snprintf(dir, sizeof dir, "%s%s", point, rel);
	size_t np = strlen(point);
	double least = 0;
	for (;;) {
		double q = folder_quota(dir, v2);
		if (q > 0 && (least == 0 || q < least)) least = q;
		char *slash = strrchr(dir, '/');
		if (strlen(dir) <= np || !slash || (size_t)(slash - dir) < np) break;
		*slash = 0;
	}
	return least;
}

int threads_cpus_under(const char *root, int affinity)
{
	int n = affinity > 0 ? affinity : 1;
	for (int v2 = 1; v2 >= 0; v2--) {
		double q = hierarchy_quota(root, v2);
		if (!(q > 0)) continue;
		/* 1.5 CPUs of quota keep two threads busy part of the time, better than one all of it */
		double c = ceil(q - 1e-9);
		if (c < n) n = c < 1 ? 1 : (int)c;
	}
	return n;
}

int threads_cpus(void)
{
	return threads_cpus_under("", affinity_cpus());
}
