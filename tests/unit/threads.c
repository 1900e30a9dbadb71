/* threads_cpus_under: the default thread count from affinity and cgroup
 * quotas, on made-up /proc and cgroup trees (v2, v1, nested, a container's
 * own view, broken files), and threads_cpus() on this machine. */
#include "tap.h"
#include "threads.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/ls-threads-XXXXXX";

static void put(const char *rel, const char *text)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = 0;
		mkdir(path, 0755);
		*p = '/';
	}
	FILE *fp = fopen(path, "w");
	if (!fp) { perror(path); exit(1); }
	fputs(text, fp);
	fclose(fp);
}

static void reset(void)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'/proc '%s'/sys", root, root);
	if (system(cmd)) exit(1);
}

static const char *v2_mount = "30 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
static const char *v1_mount =
	"32 31 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	"33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n";

int main(void)
{
	if (!mkdtemp(root)) { perror("mkdtemp"); return 1; }

	ok(threads_cpus_under(root, 8) == 8, "no /proc files at all: the affinity count");
	ok(threads_cpus_under(root, 0) == 1, "an affinity count below 1 gives 1");

	put("proc/self/cgroup", "0::/slurm/job_7/step_0\n");
	put("proc/self/mountinfo", v2_mount);
	put("sys/fs/cgroup/slurm/job_7/step_0/cpu.max", "max 100000\n");
	ok(threads_cpus_under(root, 8) == 8, "v2, cpu.max 'max': no quota, the affinity count");
	put("sys/fs/cgroup/slurm/job_7/step_0/cpu.max", "200000 100000\n");
	ok(threads_cpus_under(root, 8) == 2, "v2, cpu.max 200000/100000: 2");
	ok(threads_cpus_under(root, 1) == 1, "v2, quota 2 but affinity 1: 1");
	put("sys/fs/cgroup/slurm/job_7/step_0/cpu.max", "150000 100000\n");
	ok(threads_cpus_under(root, 8) == 2, "v2, 1.5 CPUs of quota: 2 threads (rounded up)");
	put("sys/fs/cgroup/slurm/job_7/step_0/cpu.max", "10000 100000\n");
	ok(threads_cpus_under(root, 8) == 1, "v2, a tenth of a CPU: 1");
	put("sys/fs/cgroup/slurm/job_7/step_0/cpu.max", "max 100000\n");
	put("sys/fs/cgroup/slurm/cpu.max", "300000 100000\n");
	ok(threads_cpus_under(root, 8) == 3, "v2, the quota of a cgroup above the process's counts: 3");
	put("sys/fs/cgroup/slurm/job_7/step_0/cpu.max", "500000 100000\n");
	ok(threads_cpus_under(root, 8) == 3, "v2, the smallest quota on the path wins (5 below, 3 above): 3");
	put("sys/fs/cgroup/cpu.max", "100000 100000\n");
	ok(threads_cpus_under(root, 8) == 1, "v2, a quota at the mount's root counts: 1");

	reset();
	put("proc/self/cgroup", "0::/\n");
	put("proc/self/mountinfo", "30 1 0:26 /kubepods/pod1/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
	put("sys/fs/cgroup/cpu.max", "400000 100000\n");
	ok(threads_cpus_under(root, 16) == 4, "v2 in a cgroup namespace (the container's cgroup is the mount): 4");

	reset();
	put("proc/self/cgroup", "0::/a/b\n");
	put("proc/self/mountinfo", "30 1 0:26 /a /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
	put("sys/fs/cgroup/b/cpu.max", "200000 100000\n");
	ok(threads_cpus_under(root, 16) == 2, "v2 mounted from a subfolder (mount root /a, cgroup /a/b): 2");

	reset();
	put("proc/self/cgroup", "5:memory:/job\n4:cpu,cpuacct:/slurm/uid_0/job_9\n0::/\n");
	put("proc/self/mountinfo", v1_mount);
	put("sys/fs/cgroup/cpu,cpuacct/slurm/uid_0/job_9/cpu.cfs_quota_us", "-1\n");
	put("sys/fs/cgroup/cpu,cpuacct/slurm/uid_0/job_9/cpu.cfs_period_us", "100000\n");
	ok(threads_cpus_under(root, 6) == 6, "v1, quota -1: no quota");
	put("sys/fs/cgroup/cpu,cpuacct/slurm/uid_0/job_9/cpu.cfs_quota_us", "250000\n");
	ok(threads_cpus_under(root, 6) == 3, "v1 cpu,cpuacct, 250000/100000: 3");
	put("sys/fs/cgroup/cpu,cpuacct/slurm/cpu.cfs_quota_us", "100000\n");
	put("sys/fs/cgroup/cpu,cpuacct/slurm/cpu.cfs_period_us", "50000\n");
	ok(threads_cpus_under(root, 6) == 2, "v1, the parent's 100000/50000 below the child's: 2");

	reset();
	put("proc/self/cgroup", "4:cpuacct:/x\n3:cpuset:/x\n");
	put("proc/self/mountinfo", "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n");
	put("sys/fs/cgroup/cpuacct/x/cpu.cfs_quota_us", "100000\n");
	put("sys/fs/cgroup/cpuacct/x/cpu.cfs_period_us", "100000\n");
	ok(threads_cpus_under(root, 4) == 4, "v1, only cpuacct (no cpu controller): its files are not read");

	const char *bad[] = {"garbage\n", "max\n", "0 100000\n", "-5 100000\n", "100000 0\n", "1e400 1\n",
			     "nan 100000\n", "100000 100000x\n", ""};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		reset();
		put("proc/self/cgroup", "0::/j\n");
		put("proc/self/mountinfo", v2_mount);
		put("sys/fs/cgroup/j/cpu.max", bad[i]);
		ok(threads_cpus_under(root, 5) == 5, "v2, unparsable cpu.max '%.*s': no quota", (int)strcspn(bad[i], "\n"), bad[i]);
	}

	reset();
	put("proc/self/cgroup", "no colons here\n0:/\n::\n");
	put("proc/self/mountinfo", "garbage without a separator\n1 2 - cgroup2\n");
	ok(threads_cpus_under(root, 3) == 3, "broken /proc/self/cgroup and mountinfo: the affinity count");

	reset();
	put("proc/self/cgroup", "0::/my job\n");
	put("proc/self/mountinfo", "30 1 0:26 / /sys/fs/my\\040cgroups rw - cgroup2 cgroup2 rw\n");
	put("sys/fs/my cgroups/my job/cpu.max", "100000 100000\n");
	ok(threads_cpus_under(root, 3) == 1, "a mount point with a space (\\040 in mountinfo): 1");

	cpu_set_t set;
	CPU_ZERO(&set);
	int aff = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : -1;
	int n = threads_cpus();
	ok(n >= 1 && (aff < 1 || n <= aff), "threads_cpus() here: %d, within the affinity count %d", n, aff);

	reset();
	rmdir(root);
	return tap_done();
}
