/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * aloop - alternate loop block driver: userspace ABI.
 *
 * /dev/aloop-control and /dev/aloopN speak the loop ioctl ABI of
 * <linux/loop.h> unchanged (LOOP_CONFIGURE, LOOP_SET_STATUS64,
 * LOOP_CTL_ADD, ...).  The ioctls below are aloop's own extensions; they
 * live under their own magic so they can never collide with loop's.
 * All structures use fixed-width fields and carry reserved space, which
 * callers must zero and the kernel ignores on input and zeroes on output.
 */
#ifndef _UAPI_LINUX_ALOOP_H
#define _UAPI_LINUX_ALOOP_H

#include <linux/ioctl.h>
#include <linux/loop.h>
#include <linux/types.h>

/*
 * 0xBA: unassigned in Documentation/userspace-api/ioctl/ioctl-number.rst
 * (ABI version 1 used 0xA1, which is vtpm_proxy's).
 */
#define ALOOP_IOC_MAGIC		0xBA

/* Bits of aloop_features.features: what this build of the module does. */
#define ALOOP_FEAT_LOOP_ABI	(1ULL << 0)	/* loop ioctls on aloopN */
#define ALOOP_FEAT_CONTROL	(1ULL << 1)	/* LOOP_CTL_* on aloop-control */
#define ALOOP_FEAT_BUFFERED	(1ULL << 2)	/* buffered data path */
#define ALOOP_FEAT_DIO		(1ULL << 3)	/* direct I/O through kiocbs */
#define ALOOP_FEAT_DIO_REASON	(1ULL << 4)	/* dio_reason reported */
#define ALOOP_FEAT_DEV_INFO	(1ULL << 5)	/* ALOOP_GET_INFO */
#define ALOOP_FEAT_QUEUES	(1ULL << 6)	/* ALOOP_CONFIGURE: nr_queues */
#define ALOOP_FEAT_CGROUP	(1ULL << 7)	/* backing I/O in the bio's cgroups */
#define ALOOP_FEAT_NOWAIT	(1ULL << 8)	/* workers try IOCB_NOWAIT first */
#define ALOOP_FEAT_ATTACH	(1ULL << 9)	/* ALOOP_CTL_ATTACH, leases, owners */
#define ALOOP_FEAT_FIND		(1ULL << 10)	/* ALOOP_CTL_FIND */
#define ALOOP_FEAT_DETACH	(1ULL << 11)	/* ALOOP_CTL_DETACH */
#define ALOOP_FEAT_ATTACH_FD	(1ULL << 12)	/* ALOOP_ATTACH_FD (Linux >= 6.9) */
/* Every bit this header defines; a new bit must be added here too. */
#define ALOOP_FEAT_ALL		(ALOOP_FEAT_LOOP_ABI | ALOOP_FEAT_CONTROL | \
				 ALOOP_FEAT_BUFFERED | ALOOP_FEAT_DIO | \
				 ALOOP_FEAT_DIO_REASON | ALOOP_FEAT_DEV_INFO | \
				 ALOOP_FEAT_QUEUES | ALOOP_FEAT_CGROUP | \
				 ALOOP_FEAT_NOWAIT | ALOOP_FEAT_ATTACH | \
				 ALOOP_FEAT_FIND | ALOOP_FEAT_DETACH | \
				 ALOOP_FEAT_ATTACH_FD)

struct aloop_features {
	__u32	size;		/* in: sizeof(struct aloop_features) */
	__u32	version;	/* out: ALOOP_ABI_VERSION */
	__u64	features;	/* out: ALOOP_FEAT_* */
	__u64	reserved[6];
};

#define ALOOP_ABI_VERSION	2

/* Bits of aloop_info.state */
#define ALOOP_STATE_UNBOUND	0
#define ALOOP_STATE_BOUND	1
#define ALOOP_STATE_RUNDOWN	2

#define ALOOP_NAME_SIZE		256
#define ALOOP_REASON_SIZE	64

struct aloop_info {
	__u32	size;		/* in: sizeof(struct aloop_info) */
	__u32	number;		/* out: N of aloopN */
	__u32	state;		/* ALOOP_STATE_* */
	__u32	flags;		/* LO_FLAGS_* as LOOP_GET_STATUS64 reports */
	__u64	offset;
	__u64	sizelimit;
	__u64	size_bytes;	/* current device size */
	__u32	block_size;	/* logical block size */
	__u32	dio;		/* 1 when direct I/O is in use */
	__u64	reqs_dio;	/* requests served by direct I/O */
	__u64	reqs_buffered;	/* requests served by buffered I/O */
	__u64	reqs_fallback;	/* dio requests retried buffered */
	__u64	errors;		/* requests completed with an error */
	char	dio_reason[ALOOP_REASON_SIZE];	/* why dio is off, or "" */
	char	backing_file[ALOOP_NAME_SIZE];
	__u32	nr_queues;	/* hardware queues, each with a worker */
	__u32	reserved32;
	__u64	reqs_cgroup;	/* requests served by a cgroup's own lane */
	__u64	wakeups;	/* a sleeping queue worker woken */
	__u64	reqs_nowait;	/* submitted by a worker with IOCB_NOWAIT */
	__u64	reqs_worker;	/* taken by a queue worker */
	__u64	nowait_again;	/* NOWAIT tries refused: to the blocking helper */
	__u64	batches;	/* lists a worker took: reqs_worker / batches */
	__u64	reqs_helper;	/* served by a queue's blocking helper */
};

#define ALOOP_MAX_QUEUES	64

/*
 * LOOP_CONFIGURE with aloop's own settings.  Fields not understood by
 * the running module must be zero (checked through `size`).
 */
struct aloop_config {
	__u32	size;		/* in: sizeof(struct aloop_config) */
	__u32	nr_queues;	/* 1..ALOOP_MAX_QUEUES; 0: module default */
	__u64	reserved[7];
	struct loop_config config;
};

/*
 * The device lifecycle on /dev/aloop-control (no device node needed).
 *
 * ALOOP_CTL_ATTACH: allocate a free device (or the one asked for) and
 * configure it in one call - all or nothing, no window for another
 * attacher; the device node and, with LO_FLAGS_PARTSCAN, its partitions
 * exist when it returns.  With ALOOP_ATTACH_LEASE the device is tied to
 * the control file the call came in on: when that file is closed (the
 * owner exits, or is killed) the device detaches as soon as nobody has it
 * open.  The owner label, the caller's pid and cgroup and the time are
 * recorded (sysfs aloop/owner, owner_pid, owner_cgroup, attach_time,
 * orphan).
 */
#define ALOOP_OWNER_SIZE	64

#define ALOOP_ATTACH_LEASE	(1U << 0)	/* detach when this control fd closes */
#define ALOOP_ATTACH_INDEX	(1U << 1)	/* aloopN with N = index, not a free one */
/*
 * Never scanned for partitions: not by LO_FLAGS_PARTSCAN, max_part,
 * BLKRRPART or LOOP_SET_STATUS (EINVAL), until it is detached.
 */
#define ALOOP_ATTACH_NO_PARTSCAN (1U << 2)
/*
 * Also return an open fd of the new device (O_CLOEXEC; read-write unless
 * the device is read-only) in @fd: no device node, no udev, no race with
 * a detach.  Needs Linux 6.9 (ALOOP_FEAT_ATTACH_FD); EOPNOTSUPP before,
 * with nothing attached.
 */
#define ALOOP_ATTACH_FD		(1U << 3)
#define ALOOP_ATTACH_FLAGS	(ALOOP_ATTACH_LEASE | ALOOP_ATTACH_INDEX | \
				 ALOOP_ATTACH_NO_PARTSCAN | ALOOP_ATTACH_FD)

struct aloop_attach {
	__u32	size;		/* in: sizeof(struct aloop_attach) */
	__u32	flags;		/* in: ALOOP_ATTACH_* */
	__u32	index;		/* in with ALOOP_ATTACH_INDEX; out: N of aloopN */
	__u32	nr_queues;	/* 1..ALOOP_MAX_QUEUES; 0: module default */
	char	owner[ALOOP_OWNER_SIZE];	/* label, NUL-terminated */
	__s32	fd;		/* out with ALOOP_ATTACH_FD: the open device */
	__u32	pad;		/* in: 0 */
	__u64	reserved[5];
	struct loop_config config;
};

/*
 * ALOOP_CTL_FIND: the devices bound to a backing file (looked up by its
 * inode in a hash: the same time with 10 or 1000 devices bound).
 */
#define ALOOP_FIND_OFFSET	(1U << 0)	/* only those at this offset */
#define ALOOP_FIND_MAX		64

struct aloop_find {
	__u32	size;		/* in: sizeof(struct aloop_find) */
	__s32	fd;		/* in: an open fd of the backing file */
	__u32	flags;		/* in: ALOOP_FIND_* */
	__u32	count;		/* out: how many (may exceed ALOOP_FIND_MAX) */
	__u64	offset;		/* in with ALOOP_FIND_OFFSET */
	__u64	reserved[4];
	__u32	index[ALOOP_FIND_MAX];	/* out: the first min(count, MAX) */
};

/*
 * ALOOP_CTL_DETACH: detach aloopN without opening it.  Open by someone:
 * EBUSY with ALOOP_DETACH_IF_UNUSED (nothing changes), else it detaches
 * at the last close (autoclear), as LOOP_CLR_FD.
 */
#define ALOOP_DETACH_IF_UNUSED	(1U << 0)
#define ALOOP_DETACH_FLAGS	(ALOOP_DETACH_IF_UNUSED)

struct aloop_detach {
	__u32	size;		/* in: sizeof(struct aloop_detach) */
	__u32	index;		/* in: N of aloopN */
	__u32	flags;		/* in: ALOOP_DETACH_* */
	__u32	reserved32;
	__u64	reserved[3];
};

#define ALOOP_GET_FEATURES	_IOWR(ALOOP_IOC_MAGIC, 0x00, struct aloop_features)
#define ALOOP_GET_INFO		_IOWR(ALOOP_IOC_MAGIC, 0x01, struct aloop_info)
#define ALOOP_CONFIGURE		_IOW(ALOOP_IOC_MAGIC, 0x02, struct aloop_config)
#define ALOOP_CTL_ATTACH	_IOWR(ALOOP_IOC_MAGIC, 0x10, struct aloop_attach)
#define ALOOP_CTL_FIND		_IOWR(ALOOP_IOC_MAGIC, 0x11, struct aloop_find)
#define ALOOP_CTL_DETACH	_IOW(ALOOP_IOC_MAGIC, 0x12, struct aloop_detach)

#endif /* _UAPI_LINUX_ALOOP_H */
