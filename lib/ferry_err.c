/*
 * ferry_err.c - names of the FERRY_E* codes.
 */
#include "config.h"

#include "ferry_err.h"

const char *
ferry_strerror(int code)
{
	switch (code) {
	case FERRY_OK:
		return "success";
	case FERRY_EINVAL:
		return "invalid argument";
	case FERRY_ENOMEM:
		return "out of memory";
	case FERRY_EIO:
		return "input/output error";
	case FERRY_ENOSPC:
		return "disk full: free space is below the configured reserve";
	case FERRY_EQUOTA:
		return "store quota exceeded";
	case FERRY_EQUEUEQUOTA:
		return "queue quota exceeded";
	case FERRY_ENOTFOUND:
		return "not found";
	case FERRY_EDUPLICATE:
		return "duplicate: this message id was already accepted";
	case FERRY_EEMPTY:
		return "queue is empty";
	case FERRY_ELEASE:
		return "lease not held: it ran out or the token is wrong";
	case FERRY_ESCHEMA:
		return "store was written by a newer version of ferry";
	case FERRY_ECORRUPT:
		return "data is corrupt";
	case FERRY_ETOOBIG:
		return "too large";
	case FERRY_ESTATE:
		return "not allowed in the current state";
	case FERRY_ECLOSED:
		return "closed";
	case FERRY_EBUSY:
		return "busy: in use by another process or transfer";
	case FERRY_EDB:
		return "database error (see the log)";
	case FERRY_EPERM:
		return "permission denied";
	case FERRY_EPROTO:
		return "protocol error";
	case FERRY_EAGAIN:
		return "nothing available yet";
	case FERRY_ECONNECT:
		return "cannot connect to ferryd: is it running, and is the "
		       "socket path right?";
	case FERRY_ETIMEDOUT:
		return "timed out";
	case FERRY_ETOOMANY:
		return "too many clients: ferryd refused the connection";
	case FERRY_ENOROUTE:
		return "no route to that node";
	}
	return "unknown error";
}
