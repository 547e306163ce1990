/*
 * The sandbox process of a pod: PID 1 of the pod's namespaces, doing nothing but holding them
 * open until the runtime stops it, and reaping any child re-parented to it so none stays a
 * zombie. The end-to-end cluster's containerd uses it as its sandbox image, because no
 * registry is reachable to pull the usual one.
 *
 * Built with `gcc -static -O2`, so the image holds this one binary and nothing else.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_stop(int sig) {
	(void)sig;
	stopping = 1;
}

/* An empty handler, not SIG_IGN: ignoring SIGCHLD would let the kernel reap children itself,
 * but a handler interrupts pause() so the loop below reaps them. */
static void on_child(int sig) { (void)sig; }

int main(int argc, char **argv) {
	struct sigaction stop, child;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("orchestration-engine-e2e pause 1");
		return 0;
	}
	if (getpid() != 1)
		/* Still works (for trying it out), but the pod's zombies are reaped only as PID 1. */
		fputs("pause: not running as PID 1\n", stderr);

	memset(&stop, 0, sizeof(stop));
	stop.sa_handler = on_stop;
	sigemptyset(&stop.sa_mask);
	memset(&child, 0, sizeof(child));
	child.sa_handler = on_child;
	sigemptyset(&child.sa_mask);
	child.sa_flags = SA_NOCLDSTOP;
	if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
	    sigaction(SIGCHLD, &child, NULL) < 0) {
		perror("pause: sigaction");
		return 1;
	}

	while (!stopping) {
		pause();
		/* Reap every child that has exited; none left (ECHILD) or none exited yet (0) ends it. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
	return 0;
}
