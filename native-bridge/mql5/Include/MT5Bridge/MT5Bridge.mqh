//+------------------------------------------------------------------+
//| MT5Bridge.mqh: the imports of mt5bridge.dll (mt5-engine)          |
//|                                                                  |
//| One declaration per function of native-bridge/include/mt5bridge.h, |
//| in the same order and with the same parameters. Types map as:    |
//|   int64_t  -> long          int32_t -> int        double -> double |
//|   const uint8_t *s, int32_t len  -> uchar &s[], int len (UTF-8)   |
//|   uint8_t *out (caller-sized)    -> uchar &out[]                  |
//|   int32_t * / int64_t * (out)    -> int & / long &                |
//|   const int64_t * / double * / int32_t * (columns) -> long &a[] ... |
//| Arrays go by reference (MQL5 passes a pointer to the first        |
//| element); nothing else crosses the boundary: no string, no struct. |
//| Use CMT5Bridge (Bridge.mqh) rather than these functions directly: |
//| it converts strings to UTF-8 and sizes the buffers.              |
//|                                                                  |
//| The DLL goes into MQL5\Libraries and needs "Allow DLL imports".   |
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_IMPORTS_MQH
#define MT5BRIDGE_IMPORTS_MQH

//--- errors (negative return values), as MT5B_E_* in mt5bridge.h
#define MT5B_E_ARG     (-1)   // an argument is out of range or a length is negative
#define MT5B_E_HANDLE  (-2)   // no such handle (never opened, or closed)
#define MT5B_E_FULL    (-3)   // the durable queue is full: keep the data and try again later
#define MT5B_E_BUFFER  (-4)   // an output buffer is too small; nothing was consumed
#define MT5B_E_STATE   (-5)   // not allowed now (e.g. configuring after start)
#define MT5B_E_NOMEM   (-6)
#define MT5B_E_THREAD  (-7)   // the I/O thread could not be started
#define MT5B_E_UTF8    (-8)   // a string is not valid UTF-8

//--- command acknowledgement statuses (mt5b_command_ack)
#define MT5B_ACK_ACCEPTED  0
#define MT5B_ACK_REJECTED  1
#define MT5B_ACK_DUPLICATE 2
#define MT5B_ACK_EXPIRED   3

//--- indexes into mt5b_stats' output array
#define MT5B_STAT_CONNECTED        0   // 1 while a session is open (after welcome)
#define MT5B_STAT_SENT             1   // durable messages put on the wire, resends included
#define MT5B_STAT_ACKED_SEQ        2   // highest seq the engine acknowledged
#define MT5B_STAT_QUEUE_DEPTH      3   // durable messages waiting for an ack
#define MT5B_STAT_TICKS_QUEUED     4   // ticks in the ring now
#define MT5B_STAT_TICKS_DROPPED    5   // ticks the ring dropped (oldest first) since open
#define MT5B_STAT_RECONNECTS       6
#define MT5B_STAT_COMMANDS_WAITING 7
#define MT5B_STAT_LAST_ERROR       8   // last error: a close code, MT5B_ERR_ENGINE + n, or a local MT5B_ERR_*
#define MT5B_STAT_SEQ_BASE         9   // seq = the handle's message number + this; set at welcome
#define MT5B_STAT_COUNT            10

//--- mt5b_status states and mt5b_log levels (the header gives them in comments only)
#define MT5B_STATE_RUNNING  0
#define MT5B_STATE_PAUSED   1
#define MT5B_STATE_STOPPING 2
#define MT5B_STATE_ERROR    3

#define MT5B_LOG_DEBUG 0
#define MT5B_LOG_INFO  1
#define MT5B_LOG_WARN  2
#define MT5B_LOG_ERROR 3

#import "mt5bridge.dll"
int  mt5b_version(uchar &out[], int cap);

long mt5b_open(uchar &url[], int url_len, uchar &token[], int token_len,
               uchar &instance_id[], int instance_len);

int  mt5b_set_account(long h, long login, uchar &server[], int server_len,
                      uchar &company[], int company_len, uchar &currency[], int currency_len,
                      int leverage, int margin_mode, int trade_mode, int server_utc_offset_s);

int  mt5b_set_ea(long h, uchar &name[], int name_len, uchar &version[], int version_len, long magic,
                 uchar &symbol[], int symbol_len, uchar &timeframe[], int timeframe_len,
                 int terminal_build);

int  mt5b_set_strategy(long h, uchar &strategy[], int strategy_len);

int  mt5b_set_limits(long h, int tick_ring, int durable_queue, int command_inbox);

int  mt5b_set_reconnect(long h, int min_ms, int max_ms);

int  mt5b_start(long h);

int  mt5b_tick(long h, uchar &symbol[], int symbol_len, long time_msc, double bid, double ask,
               double last_price, long volume, double volume_real, int flags);

int  mt5b_ticks(long h, uchar &symbol[], int symbol_len, long &time_msc[], double &bid[],
                double &ask[], double &last_price[], long &volume[], double &volume_real[],
                int &flags[], int count, int first_index);

long mt5b_bar_batch(long h, uchar &symbol[], int symbol_len, uchar &timeframe[], int timeframe_len,
                    long &time_msc[], double &open[], double &high[], double &low[], double &close[],
                    long &tick_volume[], long &real_volume[], int &spread[], int count);

long mt5b_order_event(long h, long ticket, long time_msc, uchar &symbol[], int symbol_len,
                      int order_type, int state, double volume_initial, double volume_current,
                      double price_open, double sl, double tp, long magic, long position_id,
                      uchar &comment[], int comment_len, int event);

long mt5b_signal(long h, long time_msc, uchar &symbol[], int symbol_len, uchar &signal_type[],
                 int signal_type_len, double price, double confidence, uchar &strategy[],
                 int strategy_len, uchar &timeframe[], int timeframe_len, uchar &reason[],
                 int reason_len, uchar &metadata_json[], int metadata_len, uchar &signal_id[],
                 int signal_id_len);

//--- 1 and the newest acknowledged tick of a symbol (time_msc, ticks of that ms up to it), 0: none yet
int  mt5b_tick_cursor(long h, uchar &symbol[], int symbol_len, long &time_msc, int &count);

//--- chart_mode: SYMBOL_CHART_MODE (0 bid, 1 last), -1 to leave it out
long mt5b_symbol_spec2(long h, uchar &symbol[], int symbol_len, int digits, double point,
                       double contract_size, double tick_size, double tick_value,
                       double volume_min, double volume_max, double volume_step, int chart_mode);

//--- deprecated: mt5b_symbol_spec2 with chart_mode -1 (kept for EAs built against 0.1.0)
long mt5b_symbol_spec(long h, uchar &symbol[], int symbol_len, int digits, double point,
                      double contract_size, double tick_size, double tick_value,
                      double volume_min, double volume_max, double volume_step);

long mt5b_deal(long h, long ticket, long order_ticket, long position_id, long time_msc,
               int deal_type, int entry, uchar &symbol[], int symbol_len, double volume,
               double price, double profit, double commission, double swap_value, double fee,
               long magic, int reason, uchar &comment[], int comment_len);

int  mt5b_positions_begin(long h, long time_msc);
int  mt5b_positions_add(long h, long identifier, long ticket, uchar &symbol[], int symbol_len,
                        int position_type, double volume, double price_open, double price_current,
                        double sl, double tp, double profit, double swap_value, long magic,
                        long time_msc);
long mt5b_positions_end(long h);

long mt5b_account_snapshot(long h, long time_msc, double balance, double equity, double margin,
                           double free_margin, double margin_level, double profit,
                           int open_positions, double open_volume);

long mt5b_status(long h, long time_msc, int state, int terminal_trade_allowed,
                 int ea_trade_allowed, int connected, int last_error,
                 uchar &message[], int message_len);

long mt5b_log(long h, long time_msc, int level, uchar &message[], int message_len);

int  mt5b_poll_command(long h, uchar &id[], int id_cap, int &id_len,
                       uchar &type[], int type_cap, int &type_len,
                       uchar &payload_json[], int payload_cap, int &payload_len,
                       long &expires_at);

long mt5b_command_ack(long h, uchar &id[], int id_len, int status, uchar &reason[], int reason_len);

long mt5b_command_result(long h, uchar &id[], int id_len, int ok, uchar &result_json[],
                         int result_len, uchar &error[], int error_len);

long mt5b_engine_time(long h);

int  mt5b_stats(long h, long &out[], int n);

int  mt5b_last_error(long h, uchar &out[], int cap);

int  mt5b_close(long h, int timeout_ms);
#import

#endif // MT5BRIDGE_IMPORTS_MQH
