/*
 * ferry_err.h - error codes shared by every room of ferry.
 *
 * Fallible functions return 0 or one of the negative FERRY_E* codes below;
 * ferry_strerror() names each in words a user can act on.  The numbers are
 * part of the local API (docs/protocol.md) and never change meaning.
 */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

#define FERRY_MUST_CHECK __attribute__((warn_unused_result))

enum ferry_err {
	FERRY_OK = 0,
	FERRY_EINVAL = -1,	/* an argument or a field is out of range */
	FERRY_ENOMEM = -2,	/* out of memory */
	FERRY_EIO = -3,		/* the operating system reported an I/O error */
	FERRY_ENOSPC = -4,	/* disk full (free space below the reserve) */
	FERRY_EQUOTA = -5,	/* the store quota would be exceeded */
	FERRY_EQUEUEQUOTA = -6, /* the queue's quota would be exceeded */
	FERRY_ENOTFOUND = -7,	/* no such message, queue or transfer */
	FERRY_EDUPLICATE = -8,	/* the message id was accepted before */
	FERRY_EEMPTY = -9,	/* nothing to take */
	FERRY_ELEASE = -10,	/* lease not held (expired or wrong token) */
	FERRY_ESCHEMA = -11,	/* store written by a newer ferry */
	FERRY_ECORRUPT = -12,	/* stored or received data is damaged */
	FERRY_ETOOBIG = -13,	/* larger than a configured limit */
	FERRY_ESTATE = -14,	/* not allowed in the object's current state */
	FERRY_ECLOSED = -15,	/* the store or connection is closing */
	FERRY_EBUSY = -16,	/* in use by another process or transfer */
	FERRY_EDB = -17,	/* unexpected database error (see the log) */
	FERRY_EPERM = -18,	/* permission denied */
	FERRY_EPROTO = -19,	/* malformed frame or protocol violation */
	FERRY_EAGAIN = -20,	/* nothing yet (non-blocking mode) */
	FERRY_ECONNECT = -21,	/* cannot reach ferryd */
	FERRY_ETIMEDOUT = -22,	/* waited long enough */
	FERRY_ETOOMANY = -23,	/* ferryd refused the connection: too many
				   clients (of this user, or in all) */
	FERRY_ENOROUTE = -24,	/* the node is neither this one nor a peer */
};

#define FERRY_ERR_MIN (-24)

/* A static string describing code; never NULL, also for unknown codes. */
const char *ferry_strerror(int code);

#endif
