/*
 * units.c - sizes, durations and counts as written in ferry.conf.
 *
 * Strict on purpose: a config value that is almost right ("1.5G", "-1",
 * "10 M", "30 sec") is refused rather than guessed at, and every
 * multiplication is checked for overflow.  See ferry.conf(5), UNITS.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/policy_int.h"

/*
 * Leading decimal digits of s into *v; *end points past them.  Fails on
 * no digits or a value above UINT64_MAX.
 */
static int
units_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t n = 0;
	const char *q = s;

	while (*q >= '0' && *q <= '9') {
		unsigned d = (unsigned)(*q - '0');

		if (n > (UINT64_MAX - d) / 10)
			return FERRY_EINVAL;
		n = n * 10 + d;
		q++;
	}
	if (q == s)
		return FERRY_EINVAL;
	*v = n;
	*end = q;
	return 0;
}

int
policy_parse_size(const char *s, uint64_t *out)
{
	static const char prefixes[] = "kmgt";
	uint64_t v, mult = 1;
	const char *q;
	const char *hit;
	int rc;

	if (s == NULL || out == NULL)
		return FERRY_EINVAL;
	rc = units_digits(s, &v, &q);
	if (rc != 0)
		return rc;
	if (*q != '\0' && *q != 'B') {
		char c = *q;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		hit = strchr(prefixes, c);
		if (hit == NULL)
			return FERRY_EINVAL;
		for (size_t i = 0; i <= (size_t)(hit - prefixes); i++)
			mult *= 1024;
		q++;
		if (*q == 'i') {
			q++;
			if (*q != 'B')
				return FERRY_EINVAL;
		}
	}
	if (*q == 'B')
		q++;
	if (*q != '\0')
		return FERRY_EINVAL;
	if (v > UINT64_MAX / mult)
		return FERRY_EINVAL;
	*out = v * mult;
	return 0;
}

int
policy_parse_duration_ms(const char *s, int64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
	    {"", 1000},	      {"ms", 1},	  {"s", 1000},
	    {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000},
	};
	uint64_t v;
	const char *q;
	int rc;

	if (s == NULL || out == NULL)
		return FERRY_EINVAL;
	rc = units_digits(s, &v, &q);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(q, units[i].suffix) != 0)
			continue;
		if (v > (uint64_t)INT64_MAX / units[i].ms)
			return FERRY_EINVAL;
		*out = (int64_t)(v * units[i].ms);
		return 0;
	}
	return FERRY_EINVAL;
}

void *
policy_grow(void *arr, size_t n, size_t size)
{
	if (n != 0 && (n & (n - 1)) != 0)
		return arr;
	return reallocarray(arr, n == 0 ? 1 : 2 * n, size);
}

int
policy_parse_count(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v;
	const char *q;
	int rc;

	if (s == NULL || out == NULL)
		return FERRY_EINVAL;
	rc = units_digits(s, &v, &q);
	if (rc != 0)
		return rc;
	if (*q != '\0' || v > max)
		return FERRY_EINVAL;
	*out = v;
	return 0;
}
