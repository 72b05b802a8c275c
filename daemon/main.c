/*
 * main.c: ispmaild's command line (ispmaild(8)): -c FILE, -f (foreground,
 * log to stderr), -t (check the configuration and exit), -n (print the
 * settings that differ from the defaults), -d (print every key with its
 * default), -V (version).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "master.h"
#include "state.h"

/*
 * Started with stdin, stdout or stderr closed (some supervisors do), the
 * first files we open would take those numbers, and daemon(3) or a stray
 * fprintf(stderr) would then hit a pipe or a socket: hold them with
 * /dev/null first, as Postfix and OpenSSH do.
 */
static void std_fds_open(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: ispmaild [-f] [-t] [-V] [-c config-file]\n"
	    "       ispmaild -n    print the settings that differ from the defaults (-c as above)\n"
	    "       ispmaild -d    print every key with its default\n");
	exit(1);
}

/*
 * -n and -d, as postconf -n and -d: the configuration as the daemon reads
 * it, one "key = value" line per setting, to compare with ispmaild.conf(5)
 * or another server's. -n reads the file like -t but checks nothing more.
 */
static int print_settings(const char *path, int all)
{
	struct buf out = BUF_INIT;
	struct conf conf;
	char err[1024];

	if (all) {
		conf_print_defaults(&out);
	} else {
		if (conf_load(path, &conf, err, sizeof err) != 0) {
			fprintf(stderr, "ispmaild: %s\n", err);
			return 1;
		}
		conf_print_changed(&conf, &out);
		conf_free(&conf);
	}
	if (out.len > 0)
		fputs(out.s, stdout);
	buf_free(&out);
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct master_options opt = { SYSCONFDIR "/ispmaild.conf", 0 };
	struct conf conf;
	char err[1024];
	int ch, check = 0, print = 0;

	/*
	 * No OpenSSL cleanup at exit: every session child would otherwise
	 * free OpenSSL's tables just before exiting (1.3 M instructions and
	 * a copy-on-write fault per page touched).
	 */
	std_fds_open();
	(void)OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);

	while ((ch = getopt(argc, argv, "c:dfntV")) != -1) {
		switch (ch) {
		case 'c':
			opt.conf_path = optarg;
			break;
		case 'd':
			print = 'd';
			break;
		case 'f':
			opt.foreground = 1;
			break;
		case 'n':
			print = 'n';
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("ispmaild %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc || (print && (check || opt.foreground)))
		usage();
	if (print)
		return print_settings(opt.conf_path, print == 'd');
	/*
	 * Held until master_run has its handlers: a reload or stop sent
	 * while the file is read must wait, not end the daemon.
	 */
	if (!check)
		master_hold_signals(1);
	if (conf_load(opt.conf_path, &conf, err, sizeof err) != 0) {
		fprintf(stderr, "ispmaild: %s\n", err);
		return 1;
	}
	if (check) {
		int bad = master_check(&conf, err, sizeof err);

		if (bad)
			fprintf(stderr, "ispmaild: %s\n", err);
		else
			printf("ispmaild: %s: configuration ok\n", opt.conf_path);
		conf_free(&conf);
		return bad ? 1 : 0;
	}
	/* The login pause counts failures on every node when they share Redis. */
	state_authfail_install();
	log_open("ispmaild", opt.foreground);
	log_set_level(conf.log_level);
	return master_run(&opt, &conf);
}
