/*
 * The thin platform layer: threads, a mutex, clocks, randomness and non-blocking TCP sockets.
 * plat_posix.c implements it with pthreads and BSD sockets, plat_win.c with Win32 and Winsock.
 * Nothing here runs at load time: no constructors, nothing in DllMain.
 */
#ifndef MT5B_PLAT_H
#define MT5B_PLAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
typedef SRWLOCK plat_mutex;
#define PLAT_MUTEX_INIT SRWLOCK_INIT
typedef HANDLE plat_thread;
typedef uintptr_t plat_sock;
#define PLAT_BAD_SOCK ((plat_sock)(~(uintptr_t)0))
#else
#include <pthread.h>
typedef pthread_mutex_t plat_mutex;
#define PLAT_MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
typedef pthread_t plat_thread;
typedef int plat_sock;
#define PLAT_BAD_SOCK (-1)
#endif

void plat_mutex_init(plat_mutex *m);
void plat_mutex_destroy(plat_mutex *m);
void plat_lock(plat_mutex *m);
void plat_unlock(plat_mutex *m);

/* Starts fn(arg) on a new thread; 0 on success. */
int plat_thread_start(plat_thread *t, void (*fn)(void *), void *arg);
void plat_thread_join(plat_thread t);
void plat_sleep_ms(int ms);
void plat_yield(void);

/* Monotonic milliseconds (timers) and wall-clock UTC milliseconds since 1970. */
int64_t plat_mono_ms(void);
int64_t plat_utc_ms(void);
/* Monotonic nanoseconds, for benchmarks. */
int64_t plat_mono_ns(void);

/* Fills buf with bytes from the operating system's CSPRNG; 0 on success. */
int plat_random(void *buf, size_t n);

/* Network setup for the I/O thread's lifetime (WSAStartup on Windows). */
int plat_net_init(void);
void plat_net_done(void);

/*
 * Starts a non-blocking TCP connect. Returns 0 and *s when the connect is under way (or done):
 * wait for writability, then plat_connect_result. Returns -1 (err text filled) on failure.
 * Name resolution (getaddrinfo) blocks: use IP addresses or names the resolver answers at once.
 */
int plat_connect_start(const char *host, int port, plat_sock *s, char *err, size_t errcap);
/* 0 when the connect succeeded, else -1 and err text. */
int plat_connect_result(plat_sock s, char *err, size_t errcap);
/* > 0 bytes moved, 0 would block, -1 error/closed (err text filled; "closed" on EOF for recv). */
int plat_send(plat_sock s, const uint8_t *p, size_t n, char *err, size_t errcap);
int plat_recv(plat_sock s, uint8_t *p, size_t n, char *err, size_t errcap);
void plat_close(plat_sock s);

/* Readiness polling over a set of sockets. */
#define PLAT_POLL_IN 1
#define PLAT_POLL_OUT 2
#define PLAT_POLL_ERR 4
typedef struct {
    plat_sock sock;
    int events;  /* PLAT_POLL_IN | PLAT_POLL_OUT */
    int revents; /* set by plat_poll */
} plat_pollfd;
/* Waits up to timeout_ms; returns the number of ready entries (0 on timeout), -1 on error. */
int plat_poll(plat_pollfd *fds, int n, int timeout_ms);

/* Test helpers (servers in the unit tests): listen on 127.0.0.1, an ephemeral port when port = 0. */
plat_sock plat_listen_local(int port, int *bound_port);
plat_sock plat_accept(plat_sock listener);
void plat_set_nonblocking(plat_sock s, int on);

#endif
