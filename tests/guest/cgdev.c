// SPDX-License-Identifier: GPL-2.0
/*
 * alo-cgdev: the device controller of cgroup v2, for the guest tests
 * (tests/guest/83-containers.sh).  cgroup v2 has no devices.allow file:
 * device access is decided by a BPF program of type
 * BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup, as systemd's
 * DevicePolicy=/DeviceAllow= and container runtimes (runc, crun) attach
 * one.  This one is five instructions written out here, so that no BPF
 * compiler (clang) is needed:
 *
 *   alo-cgdev CGROUP-DIR deny MAJOR    block devices of MAJOR: EPERM,
 *                                      everything else allowed
 *   alo-cgdev CGROUP-DIR allow MAJOR   of the block devices only those of
 *                                      MAJOR allowed (an allowlist, as a
 *                                      container's); char devices allowed
 *   alo-cgdev --check                  load both programs (the verifier's
 *                                      answer), attach nothing
 *
 * The program stays attached after alo-cgdev exits (BPF_PROG_ATTACH holds
 * it) until the cgroup is removed.  Exit status: 0, 1 on an error (the
 * verifier's log with it), 2 when this kernel has no bpf() or no
 * cgroup-device programs (ENOSYS, EINVAL from BPF_PROG_LOAD's type).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), \
			    .off = (o), .imm = (i) })

static char vlog[65536];

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/*
 * r1 = struct bpf_cgroup_dev_ctx *: access_type = access << 16 | type,
 * then major, minor (u32 each).  Returns 1 to allow, 0 to deny.
 */
static int load(int allowlist, unsigned int major)
{
	struct bpf_insn prog[] = {
		/* r2 = ctx->access_type & 0xffff: the device type */
		INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1,
		     offsetof(struct bpf_cgroup_dev_ctx, access_type), 0),
		INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff),
		/* r3 = ctx->major */
		INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_1,
		     offsetof(struct bpf_cgroup_dev_ctx, major), 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1),
		/* not a block device: allowed */
		INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 2,
		     BPF_DEVCG_DEV_BLOCK),
		/* deny: another major is allowed; allow: MAJOR is */
		INSN(BPF_JMP | (allowlist ? BPF_JEQ : BPF_JNE) | BPF_K,
		     BPF_REG_3, 0, 1, (int)major),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	union bpf_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (unsigned long)prog;
	attr.insn_cnt = sizeof(prog) / sizeof(prog[0]);
	attr.license = (unsigned long)"GPL";
	attr.log_buf = (unsigned long)vlog;
	attr.log_size = sizeof(vlog);
	attr.log_level = 1;
	fd = sys_bpf(BPF_PROG_LOAD, &attr);
	if (fd < 0) {
		int e = errno;

		fprintf(stderr, "alo-cgdev: BPF_PROG_LOAD (cgroup device, %s %u): %s\n%s",
			allowlist ? "allow" : "deny", major, strerror(e), vlog);
		exit(e == ENOSYS || (e == EINVAL && !vlog[0]) ? 2 : 1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	union bpf_attr attr;
	unsigned long major;
	int allowlist, pfd, cfd;
	char *end;

	if (argc == 2 && !strcmp(argv[1], "--check")) {
		close(load(0, 240));
		close(load(1, 240));
		return 0;
	}
	if (argc != 4 || (strcmp(argv[2], "deny") && strcmp(argv[2], "allow"))) {
		fprintf(stderr, "usage: alo-cgdev CGROUP-DIR deny|allow MAJOR | --check\n");
		return 1;
	}
	allowlist = !strcmp(argv[2], "allow");
	major = strtoul(argv[3], &end, 10);
	if (*end || end == argv[3] || major > 4095) {
		fprintf(stderr, "alo-cgdev: bad major '%s'\n", argv[3]);
		return 1;
	}
	cfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cfd < 0) {
		fprintf(stderr, "alo-cgdev: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	pfd = load(allowlist, major);
	memset(&attr, 0, sizeof(attr));
	attr.target_fd = cfd;
	attr.attach_bpf_fd = pfd;
	attr.attach_type = BPF_CGROUP_DEVICE;
	if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0) {
		fprintf(stderr, "alo-cgdev: BPF_PROG_ATTACH to %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	close(pfd);
	close(cfd);
	return 0;
}
