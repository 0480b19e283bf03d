/* The platform layer on Windows: Win32 threads and SRW locks, Winsock 2 with select, BCryptGenRandom. */
#ifdef _WIN32
#define FD_SETSIZE 1024
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <bcrypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat.h"

#ifndef BCRYPT_USE_SYSTEM_PREFERRED_RNG
#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#endif

void plat_mutex_init(plat_mutex *m) { InitializeSRWLock(m); }
void plat_mutex_destroy(plat_mutex *m) { (void)m; }
void plat_lock(plat_mutex *m) { AcquireSRWLockExclusive(m); }
void plat_unlock(plat_mutex *m) { ReleaseSRWLockExclusive(m); }

struct thread_start {
    void (*fn)(void *);
    void *arg;
};

static DWORD WINAPI thread_main(LPVOID p) {
    struct thread_start s = *(struct thread_start *)p;
    free(p);
    s.fn(s.arg);
    return 0;
}

int plat_thread_start(plat_thread *t, void (*fn)(void *), void *arg) {
    struct thread_start *s = malloc(sizeof *s);
    if (!s) return -1;
    s->fn = fn;
    s->arg = arg;
    HANDLE h = CreateThread(NULL, 0, thread_main, s, 0, NULL);
    if (!h) {
        free(s);
        return -1;
    }
    *t = h;
    return 0;
}

void plat_thread_join(plat_thread t) {
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
}

void plat_sleep_ms(int ms) { Sleep((DWORD)ms); }
void plat_yield(void) { SwitchToThread(); }

int64_t plat_mono_ms(void) { return (int64_t)GetTickCount64(); }

int64_t plat_mono_ns(void) {
    static LARGE_INTEGER freq; /* benign: every thread computes the same value */
    LARGE_INTEGER now;
    if (freq.QuadPart == 0) QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&now);
    return (int64_t)((double)now.QuadPart * 1e9 / (double)freq.QuadPart);
}

int64_t plat_utc_ms(void) {
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    return (int64_t)((t - 116444736000000000ULL) / 10000ULL);
}

int plat_random(void *buf, size_t n) {
    return BCryptGenRandom(NULL, (PUCHAR)buf, (ULONG)n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0 ? 0 : -1;
}

int plat_net_init(void) {
    WSADATA d;
    return WSAStartup(MAKEWORD(2, 2), &d) == 0 ? 0 : -1;
}

void plat_net_done(void) { WSACleanup(); }

static void errtext(char *err, size_t cap, const char *what, int code) {
    if (err && cap) snprintf(err, cap, "%s: WSA error %d", what, code);
}

void plat_set_nonblocking(plat_sock s, int on) {
    u_long mode = on ? 1 : 0;
    ioctlsocket((SOCKET)s, FIONBIO, &mode);
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
        if (err && errcap) snprintf(err, errcap, "resolve %s: error %d", host, rc);
        return -1;
    }
    SOCKET s = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (s == INVALID_SOCKET) {
        errtext(err, errcap, "socket", WSAGetLastError());
        freeaddrinfo(res);
        return -1;
    }
    BOOL one = TRUE;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    plat_set_nonblocking((plat_sock)s, 1);
    rc = connect(s, res->ai_addr, (int)res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0) {
        int e = WSAGetLastError();
        if (e != WSAEWOULDBLOCK && e != WSAEINPROGRESS) {
            errtext(err, errcap, "connect", e);
            closesocket(s);
            return -1;
        }
    }
    *out = (plat_sock)s;
    return 0;
}

int plat_connect_result(plat_sock s, char *err, size_t errcap) {
    int e = 0;
    int len = sizeof e;
    if (getsockopt((SOCKET)s, SOL_SOCKET, SO_ERROR, (char *)&e, &len) != 0) e = WSAGetLastError();
    if (e != 0) {
        errtext(err, errcap, "connect", e);
        return -1;
    }
    return 0;
}

int plat_send(plat_sock s, const uint8_t *p, size_t n, char *err, size_t errcap) {
    int w = send((SOCKET)s, (const char *)p, (int)(n > 0x7fffffff ? 0x7fffffff : n), 0);
    if (w >= 0) return w;
    int e = WSAGetLastError();
    if (e == WSAEWOULDBLOCK) return 0;
    errtext(err, errcap, "send", e);
    return -1;
}

int plat_recv(plat_sock s, uint8_t *p, size_t n, char *err, size_t errcap) {
    int r = recv((SOCKET)s, (char *)p, (int)(n > 0x7fffffff ? 0x7fffffff : n), 0);
    if (r > 0) return r;
    if (r == 0) {
        if (err && errcap) snprintf(err, errcap, "connection closed by the peer");
        return -1;
    }
    int e = WSAGetLastError();
    if (e == WSAEWOULDBLOCK) return 0;
    errtext(err, errcap, "recv", e);
    return -1;
}

void plat_close(plat_sock s) {
    if (s != PLAT_BAD_SOCK) closesocket((SOCKET)s);
}

int plat_poll(plat_pollfd *fds, int n, int timeout_ms) {
    if (n == 0) {
        Sleep((DWORD)timeout_ms);
        return 0;
    }
    fd_set rd, wr, ex;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_ZERO(&ex);
    int used = 0;
    for (int i = 0; i < n && i < FD_SETSIZE; i++) {
        if (fds[i].events & PLAT_POLL_IN) FD_SET((SOCKET)fds[i].sock, &rd);
        if (fds[i].events & PLAT_POLL_OUT) FD_SET((SOCKET)fds[i].sock, &wr);
        FD_SET((SOCKET)fds[i].sock, &ex); /* a failed non-blocking connect is reported here */
        used++;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int rc = select(0, &rd, &wr, &ex, &tv);
    for (int i = 0; i < n; i++) {
        int r = 0;
        if (i < used) {
            if (FD_ISSET((SOCKET)fds[i].sock, &rd)) r |= PLAT_POLL_IN;
            if (FD_ISSET((SOCKET)fds[i].sock, &wr)) r |= PLAT_POLL_OUT;
            if (FD_ISSET((SOCKET)fds[i].sock, &ex)) r |= PLAT_POLL_ERR;
        }
        fds[i].revents = rc > 0 ? r : 0;
    }
    return rc < 0 ? -1 : rc;
}

plat_sock plat_listen_local(int port, int *bound_port) {
    SOCKET s = socket(AF_INET, SOCK_STREAM, 0);
    if (s == INVALID_SOCKET) return PLAT_BAD_SOCK;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((u_short)port);
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0) {
        closesocket(s);
        return PLAT_BAD_SOCK;
    }
    int len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    if (bound_port) *bound_port = ntohs(a.sin_port);
    return (plat_sock)s;
}

plat_sock plat_accept(plat_sock listener) {
    SOCKET s = accept((SOCKET)listener, NULL, NULL);
    if (s == INVALID_SOCKET) return PLAT_BAD_SOCK;
    BOOL one = TRUE;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
    return (plat_sock)s;
}
#endif
