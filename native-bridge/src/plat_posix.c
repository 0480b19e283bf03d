/* The platform layer on Linux (and other POSIX systems): pthreads, BSD sockets, poll, getrandom. */
#ifndef _WIN32
#define _GNU_SOURCE
#include "plat.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void plat_mutex_init(plat_mutex *m) { pthread_mutex_init(m, NULL); }
void plat_mutex_destroy(plat_mutex *m) { pthread_mutex_destroy(m); }
void plat_lock(plat_mutex *m) { pthread_mutex_lock(m); }
void plat_unlock(plat_mutex *m) { pthread_mutex_unlock(m); }

struct thread_start {
    void (*fn)(void *);
    void *arg;
};

static void *thread_main(void *p) {
    struct thread_start s = *(struct thread_start *)p;
    free(p);
    s.fn(s.arg);
    return NULL;
}

int plat_thread_start(plat_thread *t, void (*fn)(void *), void *arg) {
    struct thread_start *s = malloc(sizeof *s);
    if (!s) return -1;
    s->fn = fn;
    s->arg = arg;
    if (pthread_create(t, NULL, thread_main, s) != 0) {
        free(s);
        return -1;
    }
    return 0;
}

void plat_thread_join(plat_thread t) { pthread_join(t, NULL); }

void plat_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void plat_yield(void) { sched_yield(); }

int64_t plat_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t plat_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t plat_utc_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int plat_random(void *buf, size_t n) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

int plat_net_init(void) { return 0; }
void plat_net_done(void) {}

static void errtext(char *err, size_t cap, const char *what, int code) {
    if (err && cap) snprintf(err, cap, "%s: %s", what, strerror(code));
}

void plat_set_nonblocking(plat_sock s, int on) {
    int fl = fcntl(s, F_GETFL, 0);
    fcntl(s, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
}

int plat_connect_start(const char *host, int port, plat_sock *out, char *err, size_t errcap) {
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || !res) {
        if (err && errcap) snprintf(err, errcap, "resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int s = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (s < 0) {
        errtext(err, errcap, "socket", errno);
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    plat_set_nonblocking(s, 1);
    rc = connect(s, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        errtext(err, errcap, "connect", errno);
        close(s);
        return -1;
    }
    *out = s;
    return 0;
}

int plat_connect_result(plat_sock s, char *err, size_t errcap) {
    int e = 0;
    socklen_t len = sizeof e;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &len) != 0) e = errno;
    if (e != 0) {
        errtext(err, errcap, "connect", e);
        return -1;
    }
    return 0;
}

int plat_send(plat_sock s, const uint8_t *p, size_t n, char *err, size_t errcap) {
    for (;;) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        if (w >= 0) return (int)w;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        errtext(err, errcap, "send", errno);
        return -1;
    }
}

int plat_recv(plat_sock s, uint8_t *p, size_t n, char *err, size_t errcap) {
    for (;;) {
        ssize_t r = recv(s, p, n, 0);
        if (r > 0) return (int)r;
        if (r == 0) {
            if (err && errcap) snprintf(err, errcap, "connection closed by the peer");
            return -1;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        errtext(err, errcap, "recv", errno);
        return -1;
    }
}

void plat_close(plat_sock s) {
    if (s >= 0) close(s);
}

int plat_poll(plat_pollfd *fds, int n, int timeout_ms) {
    struct pollfd stackfds[64];
    struct pollfd *pf = n <= 64 ? stackfds : malloc(sizeof *pf * (size_t)n);
    if (!pf) return -1;
    for (int i = 0; i < n; i++) {
        pf[i].fd = fds[i].sock;
        pf[i].events = (short)(((fds[i].events & PLAT_POLL_IN) ? POLLIN : 0) | ((fds[i].events & PLAT_POLL_OUT) ? POLLOUT : 0));
        pf[i].revents = 0;
    }
    int rc;
    if (n == 0) {
        plat_sleep_ms(timeout_ms);
        rc = 0;
    } else {
        rc = poll(pf, (nfds_t)n, timeout_ms);
        if (rc < 0 && errno == EINTR) rc = 0;
    }
    for (int i = 0; i < n; i++) {
        int r = 0;
        if (pf[i].revents & POLLIN) r |= PLAT_POLL_IN;
        if (pf[i].revents & POLLOUT) r |= PLAT_POLL_OUT;
        if (pf[i].revents & (POLLERR | POLLHUP | POLLNVAL)) r |= PLAT_POLL_ERR;
        fds[i].revents = r;
    }
    if (pf != stackfds) free(pf);
    return rc;
}

plat_sock plat_listen_local(int port, int *bound_port) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0) {
        close(s);
        return -1;
    }
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    if (bound_port) *bound_port = ntohs(a.sin_port);
    return s;
}

plat_sock plat_accept(plat_sock listener) {
    int s = accept(listener, NULL, NULL);
    if (s >= 0) {
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return s;
}
#endif
