/*
 * srs_tool.c: common/srs.c from the command line, for srs_check.py, which
 * recomputes each answer in Python. Prints the result name, a space and
 * the address ("-" when there is none).
 *   srs_tool forward SECRET-HEX SRS-DOMAIN SENDER NOW
 *   srs_tool reverse SECRET-HEX ADDRESS NOW
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srs.h"

/* Hex digits to bytes; -1 when odd, not hex or too long. */
static int hex_decode(const char *hex, unsigned char *out, size_t outlen,
    size_t *n)
{
	size_t len = strlen(hex);

	if (len % 2 != 0 || len / 2 > outlen)
		return -1;
	for (size_t i = 0; i < len / 2; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	*n = len / 2;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned char secret[SRS_SECRET_MAX];
	char out[SRS_ADDRESS_MAX + 1];
	size_t n;
	enum srs_result r;

	if (argc == 6 && strcmp(argv[1], "forward") == 0 &&
	    hex_decode(argv[2], secret, sizeof secret, &n) == 0) {
		r = srs_forward(secret, n, argv[3], argv[4],
		    (time_t)strtoll(argv[5], NULL, 10), out, sizeof out);
	} else if (argc == 5 && strcmp(argv[1], "reverse") == 0 &&
	    hex_decode(argv[2], secret, sizeof secret, &n) == 0) {
		r = srs_reverse(secret, n, argv[3],
		    (time_t)strtoll(argv[4], NULL, 10), out, sizeof out);
	} else {
		fprintf(stderr, "usage: srs_tool forward SECRET-HEX DOMAIN "
		    "SENDER NOW | reverse SECRET-HEX ADDRESS NOW\n");
		return 2;
	}
	printf("%s %s\n", srs_result_name(r), out[0] != '\0' ? out : "-");
	return 0;
}
