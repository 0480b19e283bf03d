/*
 * The library end to end against a fake engine in this process (a WebSocket server thread that
 * speaks the protocol's EA side and checks the client's every step). Several handles share the
 * one I/O thread while EA threads produce concurrently; built with -fsanitize=thread and with
 * address,undefined by `make test`.
 *
 * The fake engine checks: the handshake and masking (distinct random keys), hello, seq rules
 * (first seq <= resume_seq + 1, then +1 each), max_inflight never exceeded, pong for ping; it
 * drops connections abruptly now and then, without acking the last messages, and counts what it
 * stores: every tick key, deal ticket and log exactly once. It also delays a welcome so a tiny
 * tick ring overflows (the gap must be reported), delivers a command on every connection until
 * it is acknowledged (the EA must ack a duplicate), and at the end a new handle for an existing
 * stream must continue numbering at resume_seq + 1.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "mp.h"
#include "mt5bridge.h"
#include "plat.h"
#include "testutil.h"
#include "ws.h"

#define MAX_CONNS 16
#define MAX_STREAMS 8
#define INFLIGHT 8
#define BATCH_TICKS 100
#define KEYSET (1u << 20)

typedef struct {
    char id[64];
    int64_t hwm;
    int connections;
    /* what was stored */
    int64_t ticks, deals, logs, positions, accounts, statuses, acks, results, specs;
    int64_t specs_without_chart_mode, specs_chart_mode_last;
    int64_t gap_dropped, gap_from, gap_to, gaps;
    int64_t last_log_seq;
    int64_t max_frame;      /* welcome.limits.max_frame_bytes for this stream (0: 1 MiB) */
    int64_t too_large;      /* frames above it */
    char last_log[200];     /* the latest log message (its start) */
    int64_t last_log_level_error;
    int command_acked; /* the command was acknowledged (accepted or duplicate) */
    int dup_acks, accepted_acks, result_ok;
} stream_t;

typedef struct {
    plat_sock sock;
    int state; /* 0 handshake, 1 waiting hello, 2 open, 3 welcome delayed */
    buf_t in, out;
    ws_reader rx;
    stream_t *st;
    int64_t expect_seq; /* 0: first durable message not seen yet */
    int64_t resume;
    int64_t last_acked;
    int64_t highest; /* highest seq received on this connection */
    int durable_seen;
    int drop_after;
    int64_t welcome_at;
    int ping_sent, pong_ok;
    int goodbye, close_seen;
} conn_t;

typedef struct {
    plat_sock listener;
    int port;
    _Atomic int stop;
    conn_t conns[MAX_CONNS];
    stream_t streams[MAX_STREAMS];
    int nstreams;
    /* keys of stored ticks (hash set) and deal tickets */
    uint64_t *keys;
    int64_t dup_ticks, dup_deals, seq_errors, inflight_errors, protocol_errors;
    uint8_t deal_seen[100000];
    uint32_t masks[4096];
    int nmasks;
    int pongs, goodbyes, closes1000;
    int drop_every; /* drop a connection after this many durable messages (0: never) */
    plat_mutex mu;  /* guards the counters the test reads while the server runs */
} fake_t;

static fake_t F;

static stream_t *stream_for(const char *id, uint32_t n) {
    for (int i = 0; i < F.nstreams; i++)
        if (strlen(F.streams[i].id) == n && memcmp(F.streams[i].id, id, n) == 0) return &F.streams[i];
    stream_t *s = &F.streams[F.nstreams++];
    memset(s, 0, sizeof *s);
    memcpy(s->id, id, n < 63 ? n : 63);
    return s;
}

static int key_insert(uint64_t k) {
    k = k * 0x9e3779b97f4a7c15ULL | 1;
    for (uint64_t i = k & (KEYSET - 1);; i = (i + 1) & (KEYSET - 1)) {
        if (F.keys[i] == k) return 0;
        if (F.keys[i] == 0) {
            F.keys[i] = k;
            return 1;
        }
    }
}

static uint64_t hash_str(const char *s, uint32_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static void conn_free(conn_t *c);

static void send_msg(conn_t *c, const buf_t *m) { ws_write_frame(&c->out, WS_OP_BINARY, 1, m->p, m->len, NULL); }

static void send_ack(conn_t *c, int64_t seq) {
    buf_t m = {0};
    mp_map(&m, 2);
    mp_cstr(&m, "type");
    mp_cstr(&m, "ack");
    mp_cstr(&m, "seq");
    mp_int(&m, seq);
    send_msg(c, &m);
    buf_free(&m);
    c->last_acked = seq;
}

static void send_welcome(conn_t *c) {
    buf_t m = {0};
    mp_map(&m, 7);
    mp_cstr(&m, "type");
    mp_cstr(&m, "welcome");
    mp_cstr(&m, "protocol");
    mp_int(&m, 1);
    mp_cstr(&m, "stream_id");
    mp_int(&m, 1 + (c->st - F.streams));
    mp_cstr(&m, "resume_seq");
    mp_int(&m, c->st->hwm);
    mp_cstr(&m, "role");
    mp_cstr(&m, "ea");
    mp_cstr(&m, "server_time");
    mp_int(&m, plat_utc_ms() + 5000); /* the engine's clock runs 5 s ahead of ours */
    mp_cstr(&m, "limits");
    mp_map(&m, 3);
    mp_cstr(&m, "max_frame_bytes");
    mp_int(&m, c->st->max_frame ? c->st->max_frame : 1048576);
    mp_cstr(&m, "max_batch_ticks");
    mp_int(&m, BATCH_TICKS);
    mp_cstr(&m, "max_inflight");
    mp_int(&m, INFLIGHT);
    send_msg(c, &m);
    buf_free(&m);
    c->resume = c->st->hwm;
    c->last_acked = c->st->hwm;
    c->state = 2;
    /* a WebSocket ping, which must come back as a pong */
    ws_write_frame(&c->out, WS_OP_PING, 1, (const uint8_t *)"hb", 2, NULL);
    c->ping_sent = 1;
    /* the command, until this stream acknowledged it */
    if (strcmp(c->st->id, "sess-A") == 0 && (c->st->connections <= 2 || !c->st->command_acked)) {
        buf_t cm = {0};
        mp_map(&cm, 6);
        mp_cstr(&cm, "type");
        mp_cstr(&cm, "command");
        mp_cstr(&cm, "command_id");
        mp_cstr(&cm, "c-1");
        mp_cstr(&cm, "command");
        mp_cstr(&cm, "close_positions");
        mp_cstr(&cm, "payload");
        mp_map(&cm, 2);
        mp_cstr(&cm, "symbol");
        mp_cstr(&cm, "EURUSD");
        mp_cstr(&cm, "n");
        mp_double(&cm, 1.5);
        mp_cstr(&cm, "created_at");
        mp_int(&cm, plat_utc_ms());
        mp_cstr(&cm, "expires_at");
        mp_int(&cm, plat_utc_ms() + 60000);
        send_msg(c, &cm);
        buf_free(&cm);
    }
}

static int field_str(mp_rd r, uint32_t fields, const char *key, const char **s, uint32_t *n) {
    for (uint32_t i = 0; i < fields; i++) {
        const char *k;
        uint32_t kn;
        if (mp_read_str(&r, &k, &kn)) return 0;
        if (mp_key_is(k, kn, key)) return mp_read_str(&r, s, n) == 0;
        mp_skip(&r);
    }
    return 0;
}

static int field(mp_rd r, uint32_t fields, const char *key, mp_rd *v) {
    for (uint32_t i = 0; i < fields; i++) {
        const char *k;
        uint32_t kn;
        if (mp_read_str(&r, &k, &kn)) return 0;
        if (mp_key_is(k, kn, key)) {
            *v = r;
            return 1;
        }
        mp_skip(&r);
    }
    return 0;
}

static int64_t field_int(mp_rd r, uint32_t fields, const char *key) {
    mp_rd v;
    int64_t x = -1;
    if (field(r, fields, key, &v)) mp_read_int(&v, &x);
    return x;
}

/* Stores one durable message (the seq is above the high-water mark). */
static void store(conn_t *c, const char *type, uint32_t tn, mp_rd body, uint32_t fields) {
    stream_t *st = c->st;
    if (mp_key_is(type, tn, "tick_batch")) {
        const char *sym;
        uint32_t sn;
        field_str(body, fields, "symbol", &sym, &sn);
        mp_rd tv;
        uint32_t n = 0;
        if (!field(body, fields, "time_msc", &tv) || mp_read_array(&tv, &n)) {
            F.protocol_errors++;
            return;
        }
        if (n > BATCH_TICKS) F.protocol_errors++;
        int64_t idx = field_int(body, fields, "first_index");
        if (idx < 0) idx = 0;
        int64_t prev = -1;
        for (uint32_t i = 0; i < n; i++) {
            int64_t t = 0;
            mp_read_int(&tv, &t);
            if (i > 0 && t != prev) idx = 0;
            if (t < prev) F.protocol_errors++;
            prev = t;
            uint64_t k = hash_str(sym, sn) ^ ((uint64_t)t * 1000003ULL) ^ ((uint64_t)idx << 48);
            idx++;
            if (!key_insert(k)) F.dup_ticks++;
            st->ticks++;
        }
        mp_rd g;
        if (field(body, fields, "gap", &g)) {
            uint32_t gn;
            mp_read_map(&g, &gn);
            st->gaps++;
            int64_t d = field_int(g, gn, "dropped"), from = field_int(g, gn, "from_msc"), to = field_int(g, gn, "to_msc");
            if (d < 1 || from > to) F.protocol_errors++;
            if (st->gap_dropped == 0 || from < st->gap_from) st->gap_from = from;
            if (to > st->gap_to) st->gap_to = to;
            st->gap_dropped += d;
        }
    } else if (mp_key_is(type, tn, "deal")) {
        int64_t ticket = field_int(body, fields, "ticket");
        if (ticket >= 0 && ticket < 100000) {
            if (F.deal_seen[ticket]) F.dup_deals++;
            F.deal_seen[ticket] = 1;
        }
        st->deals++;
    } else if (mp_key_is(type, tn, "log")) {
        st->logs++;
        const char *msg, *lvl;
        uint32_t mn, ln;
        if (field_str(body, fields, "message", &msg, &mn))
            snprintf(st->last_log, sizeof st->last_log, "%.*s", (int)(mn < 199 ? mn : 199), msg);
        if (field_str(body, fields, "level", &lvl, &ln) && mp_key_is(lvl, ln, "error")) st->last_log_level_error++;
        st->last_log_seq = field_int(body, fields, "seq");
    } else if (mp_key_is(type, tn, "positions_snapshot")) {
        st->positions++;
    } else if (mp_key_is(type, tn, "account_snapshot")) {
        st->accounts++;
    } else if (mp_key_is(type, tn, "ea_status")) {
        st->statuses++;
    } else if (mp_key_is(type, tn, "symbol_spec")) {
        st->specs++;
        int64_t mode = field_int(body, fields, "chart_mode");
        if (mode == -1) st->specs_without_chart_mode++;
        if (mode == 1) st->specs_chart_mode_last++;
    } else if (mp_key_is(type, tn, "command_ack")) {
        const char *s;
        uint32_t sn;
        st->acks++;
        if (field_str(body, fields, "status", &s, &sn)) {
            if (mp_key_is(s, sn, "duplicate")) st->dup_acks++;
            if (mp_key_is(s, sn, "accepted")) st->accepted_acks++;
        }
        st->command_acked = 1;
    } else if (mp_key_is(type, tn, "command_result")) {
        mp_rd v;
        int ok = 0;
        if (field(body, fields, "ok", &v)) mp_read_bool(&v, &ok);
        mp_rd res;
        if (ok && field(body, fields, "result", &res) && mp_peek(&res) == MP_MAP) st->result_ok = 1;
        st->results++;
    } else {
        F.protocol_errors++;
    }
}

static void on_frame(conn_t *c, const uint8_t *p, size_t n) {
    if (c->st && c->st->max_frame && (int64_t)n > c->st->max_frame) c->st->too_large++;
    mp_rd r;
    mp_rd_init(&r, p, n);
    uint32_t fields;
    if (mp_read_map(&r, &fields)) {
        F.protocol_errors++;
        return;
    }
    const char *type;
    uint32_t tn;
    if (!field_str(r, fields, "type", &type, &tn)) {
        F.protocol_errors++;
        return;
    }
    if (mp_key_is(type, tn, "hello")) {
        const char *id;
        uint32_t idn;
        if (c->state != 1 || !field_str(r, fields, "instance_id", &id, &idn)) {
            F.protocol_errors++;
            return;
        }
        c->st = stream_for(id, idn);
        c->st->connections++;
        /* the first connection of the "gap" stream waits for its welcome: its tiny ring overflows */
        if (strcmp(c->st->id, "sess-gap") == 0 && c->st->connections == 1) {
            c->state = 3;
            c->welcome_at = plat_mono_ms() + 400;
        } else {
            send_welcome(c);
        }
        c->drop_after = F.drop_every && strcmp(c->st->id, "sess-A") == 0 && c->st->connections <= 3 ? F.drop_every : 0;
        return;
    }
    if (mp_key_is(type, tn, "goodbye")) {
        c->goodbye = 1;
        F.goodbyes++;
        return;
    }
    if (c->state != 2) {
        F.protocol_errors++;
        return;
    }
    int64_t seq = field_int(r, fields, "seq");
    if (seq < 1) {
        F.protocol_errors++;
        return;
    }
    if (c->expect_seq == 0 ? seq > c->resume + 1 : seq != c->expect_seq) {
        F.seq_errors++;
        fprintf(stderr, "fake engine: %s seq %lld, expected %lld (resume %lld)\n", c->st->id, (long long)seq,
                (long long)c->expect_seq, (long long)c->resume);
    }
    c->expect_seq = seq + 1;
    if (seq - c->last_acked > INFLIGHT) F.inflight_errors++;
    if (seq > c->st->hwm) {
        store(c, type, tn, r, fields);
        c->st->hwm = seq;
    }
    c->durable_seen++;
    c->highest = seq;
    if (c->drop_after && c->durable_seen >= c->drop_after) {
        /* break the connection without acking the last few: they must come again */
        conn_free(c);
        return;
    }
    /* ack every other message (cumulative acks skip numbers) */
    if (seq % 2 == 0 || seq - c->last_acked >= INFLIGHT / 2) send_ack(c, seq);
}

static void conn_free(conn_t *c) {
    if (c->sock != PLAT_BAD_SOCK) plat_close(c->sock);
    c->sock = PLAT_BAD_SOCK;
    buf_free(&c->in);
    buf_free(&c->out);
    ws_reader_free(&c->rx);
}

static void on_readable(conn_t *c) {
    char err[128];
    if (buf_reserve(&c->in, 65536)) return;
    int r = plat_recv(c->sock, c->in.p + c->in.len, c->in.cap - c->in.len, err, sizeof err);
    if (r == 0) return;
    if (r < 0) {
        conn_free(c);
        return;
    }
    c->in.len += (size_t)r;
    if (c->state == 0) {
        char *end = NULL;
        for (size_t i = 0; i + 3 < c->in.len; i++)
            if (memcmp(c->in.p + i, "\r\n\r\n", 4) == 0) {
                end = (char *)c->in.p + i + 4;
                break;
            }
        if (!end) return;
        char *k = strstr((char *)c->in.p, "Sec-WebSocket-Key: ");
        if (!k || memcmp(c->in.p, "GET /v1 HTTP/1.1\r\n", 18) != 0) {
            F.protocol_errors++;
            conn_free(c);
            return;
        }
        char key[64] = {0};
        sscanf(k + 19, "%60s", key);
        char acc[29];
        ws_accept_for(key, acc);
        char resp[256];
        int rn = snprintf(resp, sizeof resp,
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: %s\r\n\r\n",
                          acc);
        buf_put(&c->out, resp, (size_t)rn);
        buf_consume(&c->in, (size_t)(end - (char *)c->in.p));
        c->state = 1;
    }
    for (;;) {
        if (c->sock == PLAT_BAD_SOCK) return;
        if (c->in.len >= 6 && (c->in.p[1] & 0x80) && F.nmasks < 4096) {
            size_t at = (c->in.p[1] & 0x7f) == 126 ? 4 : (c->in.p[1] & 0x7f) == 127 ? 10 : 2;
            if (c->in.len >= at + 4) {
                uint32_t m;
                memcpy(&m, c->in.p + at, 4);
                F.masks[F.nmasks++] = m;
            }
        }
        size_t used;
        ws_frame_event ev;
        ws_read(&c->rx, c->in.p, c->in.len, &used, &ev);
        if (ev.type == WS_NEED_MORE) {
            buf_consume(&c->in, used);
            return;
        }
        if (ev.type == WS_ERROR) {
            F.protocol_errors++;
            fprintf(stderr, "fake engine: frame error %s\n", ev.err);
            conn_free(c);
            return;
        }
        if (ev.type == WS_MESSAGE) {
            if (ev.opcode != WS_OP_BINARY) F.protocol_errors++;
            on_frame(c, ev.data, ev.len);
        } else if (ev.type == WS_PONG) {
            if (ev.len == 2 && memcmp(ev.data, "hb", 2) == 0) {
                c->pong_ok = 1;
                F.pongs++;
            }
        } else if (ev.type == WS_CLOSE) {
            c->close_seen = 1;
            if (ev.close_code == 1000) F.closes1000++;
            ws_write_close(&c->out, 1000, NULL, NULL);
        }
        if (c->sock == PLAT_BAD_SOCK) return;
        buf_consume(&c->in, used);
    }
}

static void server(void *arg) {
    (void)arg;
    plat_pollfd fds[MAX_CONNS + 1];
    int idx[MAX_CONNS + 1];
    while (!atomic_load(&F.stop)) {
        int n = 0;
        fds[n].sock = F.listener;
        fds[n].events = PLAT_POLL_IN;
        idx[n++] = -1;
        plat_lock(&F.mu);
        int64_t now = plat_mono_ms();
        for (int i = 0; i < MAX_CONNS; i++) {
            conn_t *c = &F.conns[i];
            if (c->sock == PLAT_BAD_SOCK) continue;
            if (c->state == 3 && now >= c->welcome_at) send_welcome(c);
            /* what was not acked at once is acked on the next round (the "commit") */
            if (c->state == 2 && c->highest > c->last_acked) send_ack(c, c->highest);
            /* write what is pending (blocking is fine for a test server: small amounts) */
            char err[128];
            while (c->out.len) {
                int w = plat_send(c->sock, c->out.p, c->out.len, err, sizeof err);
                if (w < 0) {
                    conn_free(c);
                    break;
                }
                if (w == 0) break;
                buf_consume(&c->out, (size_t)w);
            }
            if (c->sock == PLAT_BAD_SOCK) continue;
            if (c->close_seen && c->out.len == 0) {
                conn_free(c);
                continue;
            }
            fds[n].sock = c->sock;
            fds[n].events = PLAT_POLL_IN | (c->out.len ? PLAT_POLL_OUT : 0);
            idx[n++] = i;
        }
        plat_unlock(&F.mu);
        plat_poll(fds, n, 5);
        plat_lock(&F.mu);
        for (int k = 0; k < n; k++) {
            if (!fds[k].revents) continue;
            if (idx[k] < 0) {
                plat_sock s = plat_accept(F.listener);
                if (s == PLAT_BAD_SOCK) continue;
                int slot = -1;
                for (int i = 0; i < MAX_CONNS; i++)
                    if (F.conns[i].sock == PLAT_BAD_SOCK) {
                        slot = i;
                        break;
                    }
                if (slot < 0) {
                    plat_close(s);
                    continue;
                }
                conn_t *c = &F.conns[slot];
                memset(c, 0, sizeof *c);
                c->sock = s;
                plat_set_nonblocking(s, 1);
                ws_reader_init(&c->rx, 16 << 20, 1);
            } else if (F.conns[idx[k]].sock != PLAT_BAD_SOCK && (fds[k].revents & (PLAT_POLL_IN | PLAT_POLL_ERR))) {
                on_readable(&F.conns[idx[k]]);
            }
        }
        plat_unlock(&F.mu);
    }
    for (int i = 0; i < MAX_CONNS; i++) conn_free(&F.conns[i]);
}

/* ---------- the EA side ---------- */

typedef struct {
    int64_t h;
    const char *symbol;
    int ticks, deals, logs;
    int deal_base;
    int commands_done, executions, duplicates, want_duplicates;
    int64_t pushed, dropped;
    char seen[4][130];
    int nseen;
} ea_t;

static void poll_commands(ea_t *e) {
    uint8_t id[130], type[40], payload[512];
    int32_t idn = 0, tn = 0, pn = 0;
    int64_t expires = 0;
    while (mt5b_poll_command(e->h, id, sizeof id, &idn, type, sizeof type, &tn, payload, sizeof payload, &pn, &expires) == 1) {
        int dup = 0;
        for (int i = 0; i < e->nseen; i++)
            if (strlen(e->seen[i]) == (size_t)idn && memcmp(e->seen[i], id, (size_t)idn) == 0) dup = 1;
        if (dup) {
            mt5b_command_ack(e->h, id, idn, MT5B_ACK_DUPLICATE, NULL, 0);
            e->duplicates++;
            continue;
        }
        if (e->nseen < 4) {
            memcpy(e->seen[e->nseen], id, (size_t)idn);
            e->seen[e->nseen][idn] = 0;
            e->nseen++;
        }
        CHECK(mt5b_engine_time(e->h) > plat_utc_ms() + 4000, "engine time estimate follows the engine's clock");
        CHECK(expires > mt5b_engine_time(e->h), "not expired");
        CHECK(pn == (int32_t)strlen("{\"symbol\":\"EURUSD\",\"n\":1.5}") &&
                  memcmp(payload, "{\"symbol\":\"EURUSD\",\"n\":1.5}", (size_t)pn) == 0,
              "payload as JSON: %.*s", pn, (const char *)payload);
        mt5b_command_ack(e->h, id, idn, MT5B_ACK_ACCEPTED, NULL, 0);
        e->executions++;
        const char *res = "{\"closed\":2,\"tickets\":[1,2],\"note\":\"ok \\u00e9\"}";
        CHECK(mt5b_command_result(e->h, id, idn, 1, (const uint8_t *)res, (int32_t)strlen(res), NULL, 0) > 0, "result queued");
        e->commands_done++;
    }
}

static void ea_thread(void *arg) {
    ea_t *e = arg;
    int64_t t = 1732000000000LL;
    int sent_ticks = 0, deals = 0, logs = 0;
    int64_t last_ms = 0, last2_ms = 0; /* the newest tick of each symbol, and how many at its ms */
    int32_t at_last = 0, at_last2 = 0;
    int32_t sl = (int32_t)strlen(e->symbol);
    char sym2[16];
    snprintf(sym2, sizeof sym2, "%s.b", e->symbol);
    while (sent_ticks < e->ticks) {
        /* a burst of single ticks, some in the same millisecond */
        for (int i = 0; i < 50 && sent_ticks < e->ticks; i++) {
            if (i % 4 != 3) t += 1 + i % 7;
            int rc = mt5b_tick(e->h, (const uint8_t *)e->symbol, sl, t, 1.1 + i * 1e-5, 1.1002, 0, 0, 0, 6);
            CHECK(rc == 0, "mt5b_tick %d", rc);
            at_last = t == last_ms ? at_last + 1 : 1;
            last_ms = t;
            sent_ticks++;
        }
        /* and an array of ticks of a second symbol, as CopyTicksRange gives them */
        int64_t tm[20], vol[20];
        double bid[20], ask[20], last[20], vr[20];
        int32_t fl[20];
        for (int i = 0; i < 20; i++) {
            tm[i] = t + i / 3;
            bid[i] = 2.5;
            ask[i] = 2.6;
            last[i] = 0;
            vol[i] = i;
            vr[i] = 0.5 * i;
            fl[i] = 2;
        }
        CHECK(mt5b_ticks(e->h, (const uint8_t *)sym2, (int32_t)strlen(sym2), tm, bid, ask, last, vol, vr, fl, 20, 0) == 20, "ticks");
        last2_ms = tm[19];
        at_last2 = 2; /* tm[18] and tm[19] share a millisecond */
        sent_ticks += 20;
        t += 10;
        if (deals < e->deals) {
            int64_t n = mt5b_deal(e->h, e->deal_base + deals, 1, 1, t, 0, 0, (const uint8_t *)"EURUSD", 6, 0.1, 1.1, 0, -0.5,
                                  0, 0, 42, 3, (const uint8_t *)"", 0);
            CHECK(n > 0, "deal queued: %lld", (long long)n);
            deals++;
        }
        if (logs < e->logs) {
            char msg[64];
            int mn = snprintf(msg, sizeof msg, "log %d", logs);
            CHECK(mt5b_log(e->h, t, 1, (const uint8_t *)msg, mn) > 0, "log queued");
            logs++;
        }
        poll_commands(e);
        plat_sleep_ms(1);
    }
    CHECK(mt5b_positions_begin(e->h, t) == 0, "positions_begin");
    CHECK(mt5b_positions_add(e->h, 7, 7, (const uint8_t *)"EURUSD", 6, 0, 0.1, 1.1, 1.2, 0, 0, 5, 0, 42, t) == 1, "add");
    CHECK(mt5b_positions_end(e->h) > 0, "positions_end");
    CHECK(mt5b_account_snapshot(e->h, t, 1000, 1005, 10, 995, 10050, 5, 1, 0.1) > 0, "account snapshot");
    CHECK(mt5b_status(e->h, t, 0, 1, 1, 1, 0, (const uint8_t *)"fine", 4) > 0, "status");
    CHECK(mt5b_symbol_spec(e->h, (const uint8_t *)e->symbol, sl, 5, 1e-5, 100000, 1e-5, 1, 0.01, 100, 0.01) > 0, "spec");
    CHECK(mt5b_symbol_spec2(e->h, (const uint8_t *)e->symbol, sl, 2, 0.01, 10, 0.01, 0.1, 1, 10000, 1, 1) > 0,
          "spec with chart_mode last");
    /* keep answering commands until everything is acknowledged */
    int64_t deadline = plat_mono_ms() + 20000;
    int64_t st[MT5B_STAT_COUNT];
    for (;;) {
        poll_commands(e);
        mt5b_stats(e->h, st, MT5B_STAT_COUNT);
        if (st[MT5B_STAT_QUEUE_DEPTH] == 0 && st[MT5B_STAT_TICKS_QUEUED] == 0 &&
            (e->want_duplicates == 0 || (e->commands_done > 0 && e->duplicates >= e->want_duplicates)))
            break;
        if (plat_mono_ms() > deadline) {
            CHECK(0, "%s: not flushed: queue %lld ring %lld", e->symbol, (long long)st[MT5B_STAT_QUEUE_DEPTH],
                  (long long)st[MT5B_STAT_TICKS_QUEUED]);
            break;
        }
        plat_sleep_ms(5);
    }
    e->pushed = sent_ticks;
    e->dropped = st[MT5B_STAT_TICKS_DROPPED];
    /* everything is acknowledged (through drops and resends): the acked cursors are the newest ticks */
    int64_t cm = 0;
    int32_t cc = 0;
    CHECK(mt5b_tick_cursor(e->h, (const uint8_t *)e->symbol, sl, &cm, &cc) == 1 && cm == last_ms && cc == at_last,
          "%s acked cursor (%lld, %d), want (%lld, %d)", e->symbol, (long long)cm, cc, (long long)last_ms, at_last);
    CHECK(mt5b_tick_cursor(e->h, (const uint8_t *)sym2, (int32_t)strlen(sym2), &cm, &cc) == 1 && cm == last2_ms && cc == at_last2,
          "%s acked cursor (%lld, %d), want (%lld, %d)", sym2, (long long)cm, cc, (long long)last2_ms, at_last2);
}

static int64_t open_handle(const char *instance, int ring) {
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/v1", F.port);
    int64_t h = mt5b_open((const uint8_t *)url, (int32_t)strlen(url), (const uint8_t *)"tok", 3, (const uint8_t *)instance,
                          (int32_t)strlen(instance));
    CHECK(h > 0, "open %s: %lld", instance, (long long)h);
    CHECK(mt5b_set_account(h, 1234, (const uint8_t *)"Demo", 4, NULL, 0, (const uint8_t *)"USD", 3, 100, 2, 0, 7200) == 0, "account");
    CHECK(mt5b_set_ea(h, (const uint8_t *)"TestEA", 6, (const uint8_t *)"1", 1, 42, (const uint8_t *)"EURUSD", 6,
                      (const uint8_t *)"M15", 3, 4755) == 0,
          "ea");
    CHECK(mt5b_set_limits(h, ring, 0, 0) == 0, "limits");
    CHECK(mt5b_set_reconnect(h, 20, 200) == 0, "reconnect");
    CHECK(mt5b_start(h) == 0, "start");
    return h;
}

static void api_checks(void) {
    uint8_t v[16];
    CHECK(mt5b_version(v, sizeof v) == 5 && memcmp(v, "0.1.0", 5) == 0, "version");
    CHECK(mt5b_version(v, 2) == MT5B_E_BUFFER, "version buffer");
    CHECK(mt5b_open((const uint8_t *)"http://x/v1", 11, (const uint8_t *)"t", 1, (const uint8_t *)"i", 1) == MT5B_E_ARG, "bad url");
    CHECK(mt5b_open((const uint8_t *)"ws://x:99999/v1", 15, (const uint8_t *)"t", 1, (const uint8_t *)"i", 1) == MT5B_E_ARG, "bad port");
    CHECK(mt5b_open((const uint8_t *)"ws://x/v1", 9, (const uint8_t *)"t", 1, (const uint8_t *)"i\n", 2) == MT5B_E_ARG, "control char id");
    CHECK(mt5b_open((const uint8_t *)"ws://x/v1", 9, (const uint8_t *)"t", 1, (const uint8_t *)"\xc3", 1) == MT5B_E_UTF8, "bad UTF-8");
    int64_t h = mt5b_open((const uint8_t *)"ws://[::1]:1/v1", 15, (const uint8_t *)"t", 1, (const uint8_t *)"i", 1);
    CHECK(h > 0, "IPv6 url");
    CHECK(mt5b_tick(h, (const uint8_t *)"X", 1, 1, 1, 1, 0, 0, 0, 0) == MT5B_E_STATE, "tick before start");
    CHECK(mt5b_start(h) == MT5B_E_STATE, "start without account/ea");
    CHECK(mt5b_set_limits(h, 1000, 0, 0) == MT5B_E_ARG, "ring not a power of two");
    CHECK(mt5b_set_ea(h, (const uint8_t *)"E", 1, NULL, 0, 0, NULL, 0, (const uint8_t *)"M7", 2, -1) == MT5B_E_ARG, "bad timeframe");
    CHECK(mt5b_close(h, 0) == 0, "close unstarted");
    CHECK(mt5b_close(h, 0) == MT5B_E_HANDLE, "closed handle");
    CHECK(mt5b_tick(h, (const uint8_t *)"X", 1, 1, 1, 1, 0, 0, 0, 0) == MT5B_E_HANDLE, "closed handle tick");
    CHECK(mt5b_stats(12345, NULL, 0) == MT5B_E_HANDLE, "unknown handle");
}

int main(int argc, char **argv) {
    int ticks = argc > 1 ? atoi(argv[1]) : 20000;
    api_checks();
    memset(&F, 0, sizeof F);
    plat_mutex_init(&F.mu);
    F.keys = calloc(KEYSET, sizeof *F.keys);
    for (int i = 0; i < MAX_CONNS; i++) F.conns[i].sock = PLAT_BAD_SOCK;
    F.listener = plat_listen_local(0, &F.port);
    CHECK(F.listener != PLAT_BAD_SOCK, "listen");
    plat_set_nonblocking(F.listener, 1);
    F.drop_every = 150;
    plat_thread srv;
    plat_thread_start(&srv, server, NULL);

    /* two EAs streaming at once, one of them dropped three times mid-stream */
    ea_t a = {0}, b = {0};
    a.h = open_handle("sess-A", 0);
    a.symbol = "SYMA";
    a.ticks = ticks;
    a.deals = 200;
    a.logs = 150;
    a.deal_base = 1000;
    a.want_duplicates = 1;
    b.h = open_handle("sess-B", 0);
    b.symbol = "SYMB";
    b.ticks = ticks;
    b.deals = 100;
    b.logs = 100;
    b.deal_base = 5000;
    b.want_duplicates = 0;
    /* a third handle with a 64-tick ring and a delayed welcome: its ticks overflow */
    int64_t g = open_handle("sess-gap", 64);
    for (int i = 0; i < 1000; i++) CHECK(mt5b_tick(g, (const uint8_t *)"GAP", 3, 1000 + i, 1, 1, 0, 0, 0, 0) == 0, "gap tick");
    int64_t gst[MT5B_STAT_COUNT];
    mt5b_stats(g, gst, MT5B_STAT_COUNT);
    /* nothing acknowledged yet (the welcome is delayed): no cursor, and nothing written */
    int64_t gm = -1;
    int32_t gc = -1;
    CHECK(mt5b_tick_cursor(g, (const uint8_t *)"GAP", 3, &gm, &gc) == 0 && gm == -1 && gc == -1, "no acked cursor before welcome");
    CHECK(mt5b_tick_cursor(g, (const uint8_t *)"NONE", 4, &gm, &gc) == 0, "no cursor for an unknown symbol");
    /* symbol names are refused above 64 bytes, never cut */
    char sym65[66];
    memset(sym65, 'S', 65);
    sym65[65] = 0;
    CHECK(mt5b_tick_cursor(g, (const uint8_t *)sym65, 64, &gm, &gc) == 0, "64 bytes: a valid symbol, no cursor yet");
    CHECK(mt5b_tick(g, (const uint8_t *)sym65, 65, 5000, 1, 1, 0, 0, 0, 0) == MT5B_E_ARG, "65-byte symbol refused");
    CHECK(mt5b_tick_cursor(g, (const uint8_t *)sym65, 65, &gm, &gc) == MT5B_E_ARG, "65-byte symbol cursor refused");
    CHECK(mt5b_symbol_spec(g, (const uint8_t *)sym65, 65, 5, 1e-5, 1, 1, 1, 1, 1, 1) == MT5B_E_ARG, "65-byte symbol spec refused");
    CHECK(mt5b_symbol_spec2(g, (const uint8_t *)"GAP", 3, 5, 1e-5, 1, 1, 1, 1, 1, 1, 2) == MT5B_E_ARG &&
              mt5b_symbol_spec2(g, (const uint8_t *)"GAP", 3, 5, 1e-5, 1, 1, 1, 1, 1, 1, -2) == MT5B_E_ARG,
          "chart_mode other than -1, 0, 1 refused");
    CHECK(gst[MT5B_STAT_TICKS_DROPPED] == 936 && gst[MT5B_STAT_TICKS_QUEUED] == 64, "936 dropped, 64 kept: %lld %lld",
          (long long)gst[MT5B_STAT_TICKS_DROPPED], (long long)gst[MT5B_STAT_TICKS_QUEUED]);

    plat_thread ta, tb;
    plat_thread_start(&ta, ea_thread, &a);
    plat_thread_start(&tb, ea_thread, &b);
    plat_thread_join(ta);
    plat_thread_join(tb);
    int64_t deadline = plat_mono_ms() + 10000;
    while (plat_mono_ms() < deadline) {
        mt5b_stats(g, gst, MT5B_STAT_COUNT);
        /* drained is not acknowledged: under load the ack for the last frame comes later */
        if (gst[MT5B_STAT_QUEUE_DEPTH] == 0 && gst[MT5B_STAT_TICKS_QUEUED] == 0 && gst[MT5B_STAT_CONNECTED] &&
            mt5b_tick_cursor(g, (const uint8_t *)"GAP", 3, &gm, &gc) == 1 && gm == 1999)
            break;
        plat_sleep_ms(5);
    }
    /* after the overflow the acked cursor is the newest tick (1999), past the dropped ones */
    CHECK(mt5b_tick_cursor(g, (const uint8_t *)"GAP", 3, &gm, &gc) == 1 && gm == 1999 && gc == 1, "gap cursor (%lld, %d)",
          (long long)gm, gc);
    int64_t sa[MT5B_STAT_COUNT];
    mt5b_stats(a.h, sa, MT5B_STAT_COUNT);
    CHECK(sa[MT5B_STAT_RECONNECTS] >= 3, "A reconnected after the drops: %lld", (long long)sa[MT5B_STAT_RECONNECTS]);
    CHECK(sa[MT5B_STAT_SENT] > sa[MT5B_STAT_ACKED_SEQ], "A resent messages (sent %lld, acked %lld)",
          (long long)sa[MT5B_STAT_SENT], (long long)sa[MT5B_STAT_ACKED_SEQ]);
    CHECK(mt5b_close(a.h, 2000) == 0, "close A");
    CHECK(mt5b_close(b.h, 2000) == 0, "close B");
    CHECK(mt5b_close(g, 2000) == 0, "close gap");

    /* a new handle for stream A (an EA restart): numbering continues at resume_seq + 1 */
    plat_lock(&F.mu);
    int64_t logs_before = 0;
    for (int i = 0; i < F.nstreams; i++)
        if (strcmp(F.streams[i].id, "sess-A") == 0) logs_before = F.streams[i].logs;
    F.drop_every = 0;
    plat_unlock(&F.mu);
    int64_t a2 = open_handle("sess-A", 0);
    int64_t num = mt5b_log(a2, 1732000000000LL, 2, (const uint8_t *)"after restart", 13);
    /* before the first welcome its seq is provisional: 1 */
    deadline = plat_mono_ms() + 5000;
    int64_t s2[MT5B_STAT_COUNT];
    while (plat_mono_ms() < deadline) {
        mt5b_stats(a2, s2, MT5B_STAT_COUNT);
        if (s2[MT5B_STAT_QUEUE_DEPTH] == 0 && s2[MT5B_STAT_CONNECTED]) break;
        plat_sleep_ms(5);
    }
    CHECK(s2[MT5B_STAT_SEQ_BASE] > 0 && s2[MT5B_STAT_ACKED_SEQ] == s2[MT5B_STAT_SEQ_BASE] + 1,
          "seq base %lld, acked %lld", (long long)s2[MT5B_STAT_SEQ_BASE], (long long)s2[MT5B_STAT_ACKED_SEQ]);
    CHECK(num == 1 || num == s2[MT5B_STAT_SEQ_BASE] + 1, "provisional seq 1, or final: %lld", (long long)num);
    int64_t next = mt5b_log(a2, 1732000000000LL, 2, (const uint8_t *)"once open", 9);
    CHECK(next == s2[MT5B_STAT_SEQ_BASE] + 2, "once open, seqs are final: %lld (base %lld)", (long long)next,
          (long long)s2[MT5B_STAT_SEQ_BASE]);
    CHECK(mt5b_close(a2, 2000) == 0, "close A again");

    /* an engine that takes frames of 4 KiB at most: an oversized message is replaced by an error
       log with its number (else the engine would close 1009 forever), batches shrink to fit */
    plat_lock(&F.mu);
    stream_t *small = stream_for("sess-small", 10);
    small->max_frame = 4096;
    plat_unlock(&F.mu);
    int64_t sh = open_handle("sess-small", 0);
    static char big[6000];
    memset(big, 'x', sizeof big);
    CHECK(mt5b_log(sh, 1732000000000LL, 1, (const uint8_t *)big, (int32_t)sizeof big) == 1, "a 6000-byte log is queued");
    CHECK(mt5b_log(sh, 1732000000000LL, 1, (const uint8_t *)"after", 5) == 2, "and another");
    for (int i = 0; i < 500; i++) mt5b_tick(sh, (const uint8_t *)"SMALL", 5, 5000 + i, 1, 1, 0, 0, 0, 0);
    int64_t ss[MT5B_STAT_COUNT];
    deadline = plat_mono_ms() + 5000;
    while (plat_mono_ms() < deadline) {
        mt5b_stats(sh, ss, MT5B_STAT_COUNT);
        if (ss[MT5B_STAT_QUEUE_DEPTH] == 0 && ss[MT5B_STAT_TICKS_QUEUED] == 0 && ss[MT5B_STAT_CONNECTED]) break;
        plat_sleep_ms(5);
    }
    CHECK(ss[MT5B_STAT_LAST_ERROR] == MT5B_ERR_TOO_LARGE, "last error: too large (%lld)", (long long)ss[MT5B_STAT_LAST_ERROR]);
    CHECK(mt5b_close(sh, 1000) == 0, "close small");

    /* the engine lost what it had acknowledged (a restored backup): numbering restarts at resume_seq + 1 */
    int64_t lh = open_handle("sess-lost", 0);
    for (int i = 0; i < 10; i++) {
        char msg[32];
        int mn = snprintf(msg, sizeof msg, "before %d", i);
        mt5b_log(lh, 1732000000000LL, 1, (const uint8_t *)msg, mn);
    }
    int64_t ls[MT5B_STAT_COUNT];
    deadline = plat_mono_ms() + 5000;
    while (plat_mono_ms() < deadline) {
        mt5b_stats(lh, ls, MT5B_STAT_COUNT);
        if (ls[MT5B_STAT_QUEUE_DEPTH] == 0 && ls[MT5B_STAT_ACKED_SEQ] == 10) break;
        plat_sleep_ms(5);
    }
    CHECK(ls[MT5B_STAT_ACKED_SEQ] == 10, "10 logs acknowledged");
    plat_lock(&F.mu);
    stream_t *lost = stream_for("sess-lost", 9);
    lost->hwm = 5;
    for (int i = 0; i < MAX_CONNS; i++)
        if (F.conns[i].sock != PLAT_BAD_SOCK && F.conns[i].st == lost) conn_free(&F.conns[i]);
    plat_unlock(&F.mu);
    CHECK(mt5b_log(lh, 1732000000000LL, 1, (const uint8_t *)"after loss", 10) == 11, "message 11");
    deadline = plat_mono_ms() + 5000;
    while (plat_mono_ms() < deadline) {
        mt5b_stats(lh, ls, MT5B_STAT_COUNT);
        if (ls[MT5B_STAT_QUEUE_DEPTH] == 0 && ls[MT5B_STAT_CONNECTED] && ls[MT5B_STAT_ACKED_SEQ] == 7) break;
        plat_sleep_ms(5);
    }
    CHECK(ls[MT5B_STAT_SEQ_BASE] == -5 && ls[MT5B_STAT_ACKED_SEQ] == 7, "renumbered: base %lld, acked %lld",
          (long long)ls[MT5B_STAT_SEQ_BASE], (long long)ls[MT5B_STAT_ACKED_SEQ]);
    CHECK(mt5b_close(lh, 1000) == 0, "close lost");

    plat_sleep_ms(100);
    atomic_store(&F.stop, 1);
    plat_thread_join(srv);
    plat_close(F.listener);

    stream_t *sA = NULL, *sB = NULL, *sG = NULL;
    for (int i = 0; i < F.nstreams; i++) {
        if (strcmp(F.streams[i].id, "sess-A") == 0) sA = &F.streams[i];
        if (strcmp(F.streams[i].id, "sess-B") == 0) sB = &F.streams[i];
        if (strcmp(F.streams[i].id, "sess-gap") == 0) sG = &F.streams[i];
    }
    CHECK(sA && sB && sG, "three streams");
    if (sA && sB && sG) {
        printf("A: %d connections, %lld ticks, %lld deals, %lld logs; B: %d connections, %lld ticks; gap: %lld ticks, "
               "gap dropped %lld in %lld gaps\n",
               sA->connections, (long long)sA->ticks, (long long)sA->deals, (long long)sA->logs, sB->connections,
               (long long)sB->ticks, (long long)sG->ticks, (long long)sG->gap_dropped, (long long)sG->gaps);
        CHECK(sA->connections >= 5, "A connected %d times", sA->connections);
        CHECK(sA->ticks == a.pushed - a.dropped && sB->ticks == b.pushed - b.dropped,
              "every tick stored once: A %lld of %lld - %lld, B %lld of %lld - %lld", (long long)sA->ticks,
              (long long)a.pushed, (long long)a.dropped, (long long)sB->ticks, (long long)b.pushed, (long long)b.dropped);
        CHECK(sA->deals == 200 && sB->deals == 100, "deals %lld %lld", (long long)sA->deals, (long long)sB->deals);
        CHECK(sA->logs == 150 + 2 && logs_before == 150 && sB->logs == 100, "logs %lld (%lld before restart) %lld",
              (long long)sA->logs, (long long)logs_before, (long long)sB->logs);
        CHECK(sA->positions == 1 && sA->accounts == 1 && sA->statuses == 1 && sA->specs == 2, "snapshots, status, spec");
        CHECK(sA->specs_without_chart_mode == 1 && sA->specs_chart_mode_last == 1,
              "mt5b_symbol_spec leaves chart_mode out, mt5b_symbol_spec2 sends it: %lld %lld",
              (long long)sA->specs_without_chart_mode, (long long)sA->specs_chart_mode_last);
        CHECK(sA->accepted_acks == 1 && sA->result_ok == 1 && sA->results == 1, "command accepted once, result ok");
        CHECK(sG->ticks == 64 && sG->gap_dropped == 936 && sG->gaps == 1 && sG->gap_from == 1000 && sG->gap_to == 1935,
              "gap reported: %lld ticks, dropped %lld, %lld..%lld", (long long)sG->ticks, (long long)sG->gap_dropped,
              (long long)sG->gap_from, (long long)sG->gap_to);
    }
    stream_t *sS = NULL, *sL = NULL;
    for (int i = 0; i < F.nstreams; i++) {
        if (strcmp(F.streams[i].id, "sess-small") == 0) sS = &F.streams[i];
        if (strcmp(F.streams[i].id, "sess-lost") == 0) sL = &F.streams[i];
    }
    CHECK(sS && sS->too_large == 0 && sS->logs == 2 && sS->last_log_level_error == 1 && sS->ticks == 500,
          "small frames: %lld too large, %lld logs (%lld errors), %lld ticks", sS ? (long long)sS->too_large : -1,
          sS ? (long long)sS->logs : -1, sS ? (long long)sS->last_log_level_error : -1, sS ? (long long)sS->ticks : -1);
    CHECK(sL && sL->logs == 12 && sL->hwm == 7 && sL->last_log_level_error == 1,
          "after the loss: %lld logs stored, hwm %lld, %lld error logs", sL ? (long long)sL->logs : -1,
          sL ? (long long)sL->hwm : -1, sL ? (long long)sL->last_log_level_error : -1);
    CHECK(a.executions == 1 && a.duplicates >= 1, "the command ran once (%d), its second delivery was a duplicate (%d)",
          a.executions, a.duplicates);
    CHECK(sA && sA->dup_acks >= 1, "the engine got the duplicate ack");
    CHECK(F.dup_ticks == 0 && F.dup_deals == 0, "duplicates: %lld ticks, %lld deals", (long long)F.dup_ticks, (long long)F.dup_deals);
    CHECK(F.seq_errors == 0, "seq errors %lld", (long long)F.seq_errors);
    CHECK(F.inflight_errors == 0, "max_inflight exceeded %lld times", (long long)F.inflight_errors);
    CHECK(F.protocol_errors == 0, "protocol errors %lld", (long long)F.protocol_errors);
    CHECK(F.pongs >= 5, "pongs %d", F.pongs);
    CHECK(F.goodbyes == 6 && F.closes1000 == 6, "goodbye and close 1000 from each closed handle: %d %d", F.goodbyes, F.closes1000);
    int distinct = 0;
    for (int i = 0; i < F.nmasks; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = F.masks[j] == F.masks[i];
        if (!seen) distinct++;
    }
    CHECK(F.nmasks > 100 && distinct > F.nmasks * 95 / 100, "masking keys: %d distinct of %d", distinct, F.nmasks);
    free(F.keys);
    return t_done("test_session");
}
