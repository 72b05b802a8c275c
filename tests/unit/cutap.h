/*
 * cutap.h: run the registered CUnit suites and report each test case as a
 * TAP line, so automake's test-suite.log counts test cases, not programs.
 */
#ifndef ISPMAILD_CUTAP_H
#define ISPMAILD_CUTAP_H

#include <CUnit/CUnit.h>

/* Run everything registered; 0 when all passed, 1 otherwise. */
int cutap_run(void);

/* A fresh temporary directory for a test (removed by cutap_cleanup). */
const char *cutap_tmpdir(void);
void cutap_cleanup(void);

#endif
