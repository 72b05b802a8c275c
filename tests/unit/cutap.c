/*
 * cutap.c: CUnit to TAP. Each test case becomes one "ok N - suite: test"
 * line; failures carry their file, line and condition as TAP comments.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "cutap.h"

static unsigned tap_count;
static unsigned tap_failed;
static char tmpdir[256];

static void on_complete(const CU_pTest test, const CU_pSuite suite,
    const CU_pFailureRecord failure)
{
	tap_count++;
	if (failure == NULL) {
		printf("ok %u - %s: %s\n", tap_count, suite->pName, test->pName);
	} else {
		tap_failed++;
		printf("not ok %u - %s: %s\n", tap_count, suite->pName, test->pName);
		for (CU_pFailureRecord f = failure; f != NULL; f = f->pNext)
			printf("# %s:%u: %s\n", f->strFileName,
			    f->uiLineNumber, f->strCondition);
	}
	fflush(stdout);
}

static void on_suite_init_failure(const CU_pSuite suite)
{
	tap_count++;
	tap_failed++;
	printf("not ok %u - %s: suite setup failed\n", tap_count, suite->pName);
}

int cutap_run(void)
{
	CU_set_test_complete_handler(on_complete);
	CU_set_suite_init_failure_handler(on_suite_init_failure);
	CU_set_error_action(CUEA_IGNORE);
	if (CU_run_all_tests() != CUE_SUCCESS) {
		printf("not ok %u - CUnit: %s\n", ++tap_count, CU_get_error_msg());
		tap_failed++;
	}
	printf("1..%u\n", tap_count);
	CU_cleanup_registry();
	cutap_cleanup();
	return tap_failed ? 1 : 0;
}

const char *cutap_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		const char *base = getenv("TMPDIR");

		snprintf(tmpdir, sizeof tmpdir, "%s/ispmaild-unit.XXXXXX",
		    base && *base ? base : "/tmp");
		if (mkdtemp(tmpdir) == NULL) {
			perror("mkdtemp");
			exit(99);
		}
	}
	return tmpdir;
}

void cutap_cleanup(void)
{
	char cmd[400];

	if (tmpdir[0] == '\0' || getenv("KEEP_TMP"))
		return;
	/* A fixed path of our own making, not client input. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", tmpdir);
	tmpdir[0] = '\0';
}
