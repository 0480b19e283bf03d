//+------------------------------------------------------------------+
//| Bridge.mqh: CMT5Bridge, one mt5bridge.dll handle for one EA       |
//|                                                                  |
//| Wraps the imports of MT5Bridge.mqh so an EA deals in MQL5 values: |
//| strings become UTF-8 byte arrays with explicit lengths (MQL5      |
//| strings are UTF-16 and must never cross the boundary as such),    |
//| MqlTick and MqlRates arrays become the columns mt5b_ticks and     |
//| mt5b_bar_batch want, and output buffers grow when the library     |
//| says they are too small.                                          |
//|                                                                  |
//| No call blocks on the network: the library queues and a          |
//| background thread sends. Durable calls return the message's seq   |
//| (> 0) or an MT5B_E_* code; MT5B_E_FULL means "keep the data and    |
//| try again later", nothing was queued.                            |
//+------------------------------------------------------------------+
#ifndef MT5BRIDGE_BRIDGE_MQH
#define MT5BRIDGE_BRIDGE_MQH

#include "MT5Bridge.mqh"

//--- the protocol's byte limits (docs/PROTOCOL.md section 8), applied before the call
#define MT5B_MAX_TEXT_BYTES    8192   // message, reason, error
#define MT5B_MAX_NAME_BYTES    128    // names, versions, comments, currencies
#define MT5B_MAX_SYMBOL_BYTES  64     // symbols are never cut: a longer one is refused (MT5B_E_ARG)
#define MT5B_MAX_BATCH_BARS    5000   // bars per bar_batch; Bars() splits longer runs

//--- SYMBOL_CHART_MODE as SymbolSpec takes it; -1 leaves it out (the engine keeps what it stored)
#define MT5B_CHART_MODE_UNSET  (-1)

class CMT5Bridge
  {
private:
   long              m_handle;
   long              m_last;          // result of the last call, for LastCallText()
   //--- UTF-8 scratch buffers, one per string argument of a call
   uchar             m_s1[];
   uchar             m_s2[];
   uchar             m_s3[];
   uchar             m_s4[];
   uchar             m_s5[];
   uchar             m_s6[];
   uchar             m_s7[];
   //--- tick columns, reused so that streaming does not allocate on every call
   long              m_time[];
   double            m_bid[];
   double            m_ask[];
   double            m_lastPrice[];
   long              m_volume[];
   double            m_volumeReal[];
   int               m_flags[];
   //--- bar columns, reused likewise (the times go in m_time)
   double            m_open[];
   double            m_high[];
   double            m_low[];
   double            m_close[];
   long              m_tickVolume[];
   long              m_realVolume[];
   int               m_spread[];
   //--- mt5b_poll_command buffers; grown when the library asks for more
   uchar             m_cmdId[];
   uchar             m_cmdType[];
   uchar             m_cmdPayload[];

   long              Done(const long rc) { m_last = rc; return rc; }
   bool              Check(const long rc) { m_last = rc; return rc >= 0; }
   static void       Grow(uchar &buf[], const int needed);

public:
                     CMT5Bridge(void);
                    ~CMT5Bridge(void);

   //--- UTF-8 without the terminating zero, cut at a character boundary to max_bytes
   //--- (< 0: no limit). Symbols are passed uncut (-1): a cut name would be another symbol,
   //--- so the library refuses one above MT5B_MAX_SYMBOL_BYTES with MT5B_E_ARG instead. The array always keeps at least one element, so that the
   //--- library never receives a null pointer, even for an empty string.
   static int        Utf8(const string text, uchar &out[], const int max_bytes);
   static string     FromUtf8(uchar &buf[], const int len);

   static string     Version(void);
   static string     ErrorName(const long code);
   static string     ErrorText(const long code);

   bool              IsOpen(void) const { return m_handle > 0; }
   long              Handle(void) const { return m_handle; }
   //--- the engine's clock (Unix ms) as the bridge estimates it; 0 before the first welcome
   long              EngineTime(void) const { return m_handle > 0 ? mt5b_engine_time(m_handle) : 0; }
   long              LastResult(void) const { return m_last; }
   string            LastCallText(void) const { return ErrorName(m_last) + ": " + ErrorText(m_last); }
   string            LibraryError(void);

   //--- setup: Open, then the Set* calls, then Start
   bool              Open(const string url, const string token, const string instance_id);
   bool              SetAccount(const long login, const string server, const string company,
                                const string currency, const int leverage, const int margin_mode,
                                const int trade_mode, const int server_utc_offset_s);
   bool              SetEa(const string name, const string version, const long magic,
                           const string symbol, const string timeframe, const int terminal_build);
   //--- the hello's ea.strategy tag ("" for none), cut to MT5B_MAX_NAME_BYTES
   bool              SetStrategy(const string strategy);
   bool              SetLimits(const int tick_ring, const int durable_queue, const int command_inbox);
   bool              Start(void);

   //--- ticks: into the ring, never blocking, never MT5B_E_FULL (the ring drops the oldest)
   int               Tick(const string symbol, const MqlTick &tick);
   int               Ticks(const string symbol, const MqlTick &ticks[], const int start,
                           const int count, const int first_index);

   //--- durable messages: seq (> 0) or MT5B_E_*
   //--- chart_mode: SymbolInfoInteger(symbol, SYMBOL_CHART_MODE), or MT5B_CHART_MODE_UNSET
   long              SymbolSpec(const string symbol, const int digits, const double point,
                                const double contract_size, const double tick_size,
                                const double tick_value, const double volume_min,
                                const double volume_max, const double volume_step,
                                const int chart_mode = MT5B_CHART_MODE_UNSET);
   //--- rates[start .. start+count-1] as CopyRates filled them (oldest first), in batches of
   //--- MT5B_MAX_BATCH_BARS: the seq of the last batch, or the MT5B_E_* of the batch that failed
   //--- (the batches before it are queued: resending them is harmless, bars are keyed by open time)
   long              Bars(const string symbol, const string timeframe, const MqlRates &rates[],
                          const int start, const int count);
   //--- an order as OnTradeTransaction reported it; event: the TRADE_TRANSACTION_TYPE, or -1
   long              OrderEvent(const long ticket, const long time_msc, const string symbol,
                                const int order_type, const int state, const double volume_initial,
                                const double volume_current, const double price_open,
                                const double sl, const double tp, const long magic,
                                const long position_id, const string comment, const int event);
   //--- signal_type "buy", "sell", "close" or "hold"; confidence 0 .. 1 (< 0: none);
   //--- metadata_json a JSON object or ""; signal_id "" or the EA's own id (a resend lands once)
   long              Signal(const long time_msc, const string symbol, const string signal_type,
                            const double price, const double confidence, const string strategy,
                            const string timeframe, const string reason,
                            const string metadata_json, const string signal_id);
   long              Deal(const long ticket, const long order_ticket, const long position_id,
                          const long time_msc, const int deal_type, const int entry,
                          const string symbol, const double volume, const double price,
                          const double profit, const double commission, const double swap_value,
                          const double fee, const long magic, const int reason,
                          const string comment);
   int               PositionsBegin(const long time_msc);
   int               PositionsAdd(const long identifier, const long ticket, const string symbol,
                                  const int position_type, const double volume,
                                  const double price_open, const double price_current,
                                  const double sl, const double tp, const double profit,
                                  const double swap_value, const long magic, const long time_msc);
   long              PositionsEnd(void);
   long              Account(const long time_msc, const double balance, const double equity,
                             const double margin, const double free_margin,
                             const double margin_level, const double profit,
                             const int open_positions, const double open_volume);
   long              Status(const long time_msc, const int state, const bool terminal_trade_allowed,
                            const bool ea_trade_allowed, const bool connected, const int last_error,
                            const string message);
   long              Log(const long time_msc, const int level, const string message);

   //--- commands: 1 with a command, 0 when none is waiting, or MT5B_E_*
   int               PollCommand(string &id, string &type, string &payload_json, long &expires_at);
   long              Ack(const string id, const int status, const string reason);
   long              Result(const string id, const bool ok, const string result_json, const string error);

   //--- the newest tick of `symbol` the engine acknowledged on this handle: 1 and time_msc and
   //--- count (ticks of that millisecond up to it), 0 when none was yet, or MT5B_E_*.
   //--- Resuming from it after a restart sends no tick twice (docs/PROTOCOL.md, tick_batch).
   int               TickCursor(const string symbol, long &time_msc, int &count);

   //--- counters (MT5B_STAT_*); out is resized to MT5B_STAT_COUNT
   bool              Stats(long &out[]);

   //--- goodbye, wait up to timeout_ms for acknowledgements, free the handle
   int               Close(const int timeout_ms);
  };

//+------------------------------------------------------------------+
CMT5Bridge::CMT5Bridge(void) : m_handle(0), m_last(0)
  {
  }

//+------------------------------------------------------------------+
//| A handle left open (an EA that forgot Close) is still freed, but  |
//| without waiting: whatever was unacknowledged is lost with it.     |
//+------------------------------------------------------------------+
CMT5Bridge::~CMT5Bridge(void)
  {
   Close(0);
  }

//+------------------------------------------------------------------+
int CMT5Bridge::Utf8(const string text, uchar &out[], const int max_bytes)
  {
   int n = StringToCharArray(text, out, 0, WHOLE_ARRAY, CP_UTF8);
   if(n <= 0)
     {
      ArrayResize(out, 1);
      out[0] = 0;
      return 0;
     }
   if(out[n - 1] == 0)
      n--;                                  // StringToCharArray copies the terminating zero
   if(max_bytes >= 0 && n > max_bytes)
     {
      n = max_bytes;
      //--- never cut inside a character: back off over UTF-8 continuation bytes
      while(n > 0 && (out[n] & 0xC0) == 0x80)
         n--;
     }
   return n;
  }

//+------------------------------------------------------------------+
string CMT5Bridge::FromUtf8(uchar &buf[], const int len)
  {
   if(len <= 0)
      return "";
   return CharArrayToString(buf, 0, len, CP_UTF8);
  }

//+------------------------------------------------------------------+
void CMT5Bridge::Grow(uchar &buf[], const int needed)
  {
   if(needed >= ArraySize(buf))
      ArrayResize(buf, needed + 1);
  }

//+------------------------------------------------------------------+
//| Library version "major.minor.patch"; the first call into the DLL, |
//| so a missing or blocked DLL shows up here (the terminal stops the |
//| EA with "cannot load 'mt5bridge.dll'" and an error code).         |
//+------------------------------------------------------------------+
string CMT5Bridge::Version(void)
  {
   uchar buf[64];
   int n = mt5b_version(buf, 64);
   if(n < 0)
      return "?";
   return FromUtf8(buf, n);
  }

//+------------------------------------------------------------------+
string CMT5Bridge::ErrorName(const long code)
  {
   if(code >= 0)
      return "OK";
   switch((int)code)
     {
      case MT5B_E_ARG:    return "MT5B_E_ARG";
      case MT5B_E_HANDLE: return "MT5B_E_HANDLE";
      case MT5B_E_FULL:   return "MT5B_E_FULL";
      case MT5B_E_BUFFER: return "MT5B_E_BUFFER";
      case MT5B_E_STATE:  return "MT5B_E_STATE";
      case MT5B_E_NOMEM:  return "MT5B_E_NOMEM";
      case MT5B_E_THREAD: return "MT5B_E_THREAD";
      case MT5B_E_UTF8:   return "MT5B_E_UTF8";
     }
   return "MT5B_E_" + IntegerToString(code);
  }

//+------------------------------------------------------------------+
//| What each code means for the EA, and what to do about it.         |
//+------------------------------------------------------------------+
string CMT5Bridge::ErrorText(const long code)
  {
   if(code >= 0)
      return "success";
   switch((int)code)
     {
      case MT5B_E_ARG:
         return "an argument is out of range (a negative length, a bad URL, an empty token or id, a size that is not allowed)";
      case MT5B_E_HANDLE:
         return "the bridge handle is not open (never opened, or already closed)";
      case MT5B_E_FULL:
         return "the bridge's durable queue is full because the engine has not acknowledged for a while; nothing was queued: keep the data and retry later";
      case MT5B_E_BUFFER:
         return "an output buffer is too small; nothing was consumed";
      case MT5B_E_STATE:
         return "not allowed in this state (configuring after Start, or Start twice)";
      case MT5B_E_NOMEM:
         return "the bridge ran out of memory";
      case MT5B_E_THREAD:
         return "the bridge could not start its I/O thread";
      case MT5B_E_UTF8:
         return "a string is not valid UTF-8";
     }
   return "unknown bridge error " + IntegerToString(code);
  }

//+------------------------------------------------------------------+
//| The library's own text for its last error (network, engine        |
//| refusals), empty when there is none.                             |
//+------------------------------------------------------------------+
string CMT5Bridge::LibraryError(void)
  {
   if(!IsOpen())
      return "";
   uchar buf[1024];
   int n = mt5b_last_error(m_handle, buf, 1024);
   if(n <= 0)
      return "";
   return FromUtf8(buf, n);
  }

//+------------------------------------------------------------------+
bool CMT5Bridge::Open(const string url, const string token, const string instance_id)
  {
   if(IsOpen())
      return Check(MT5B_E_STATE);
   int url_len = Utf8(url, m_s1, -1);
   int token_len = Utf8(token, m_s2, -1);
   int id_len = Utf8(instance_id, m_s3, -1);
   long h = mt5b_open(m_s1, url_len, m_s2, token_len, m_s3, id_len);
   m_last = h;
   if(h <= 0)
      return false;
   m_handle = h;
   return true;
  }

//+------------------------------------------------------------------+
bool CMT5Bridge::SetAccount(const long login, const string server, const string company,
                            const string currency, const int leverage, const int margin_mode,
                            const int trade_mode, const int server_utc_offset_s)
  {
   if(!IsOpen())
      return Check(MT5B_E_HANDLE);
   int n1 = Utf8(server, m_s1, MT5B_MAX_NAME_BYTES);
   int n2 = Utf8(company, m_s2, MT5B_MAX_NAME_BYTES);
   int n3 = Utf8(currency, m_s3, MT5B_MAX_NAME_BYTES);
   return Check(mt5b_set_account(m_handle, login, m_s1, n1, m_s2, n2, m_s3, n3, leverage,
                                 margin_mode, trade_mode, server_utc_offset_s));
  }

//+------------------------------------------------------------------+
bool CMT5Bridge::SetEa(const string name, const string version, const long magic,
                       const string symbol, const string timeframe, const int terminal_build)
  {
   if(!IsOpen())
      return Check(MT5B_E_HANDLE);
   int n1 = Utf8(name, m_s1, MT5B_MAX_NAME_BYTES);
   int n2 = Utf8(version, m_s2, MT5B_MAX_NAME_BYTES);
   int n3 = Utf8(symbol, m_s3, -1);
   int n4 = Utf8(timeframe, m_s4, 8);
   return Check(mt5b_set_ea(m_handle, m_s1, n1, m_s2, n2, magic, m_s3, n3, m_s4, n4, terminal_build));
  }

//+------------------------------------------------------------------+
bool CMT5Bridge::SetStrategy(const string strategy)
  {
   if(!IsOpen())
      return Check(MT5B_E_HANDLE);
   int n = Utf8(strategy, m_s1, MT5B_MAX_NAME_BYTES);
   return Check(mt5b_set_strategy(m_handle, m_s1, n));
  }

//+------------------------------------------------------------------+
bool CMT5Bridge::SetLimits(const int tick_ring, const int durable_queue, const int command_inbox)
  {
   if(!IsOpen())
      return Check(MT5B_E_HANDLE);
   return Check(mt5b_set_limits(m_handle, tick_ring, durable_queue, command_inbox));
  }

//+------------------------------------------------------------------+
bool CMT5Bridge::Start(void)
  {
   if(!IsOpen())
      return Check(MT5B_E_HANDLE);
   return Check(mt5b_start(m_handle));
  }

//+------------------------------------------------------------------+
int CMT5Bridge::Tick(const string symbol, const MqlTick &tick)
  {
   if(!IsOpen())
      return (int)Done(MT5B_E_HANDLE);
   int n = Utf8(symbol, m_s1, -1);
   return (int)Done(mt5b_tick(m_handle, m_s1, n, tick.time_msc, tick.bid, tick.ask, tick.last,
                              (long)tick.volume, tick.volume_real, (int)tick.flags));
  }

//+------------------------------------------------------------------+
//| ticks[start .. start+count-1] of one symbol, in time order, split |
//| into columns. first_index: how many ticks at ticks[start]'s       |
//| millisecond earlier calls already sent (the cursor's count).      |
//+------------------------------------------------------------------+
int CMT5Bridge::Ticks(const string symbol, const MqlTick &ticks[], const int start,
                      const int count, const int first_index)
  {
   if(!IsOpen())
      return (int)Done(MT5B_E_HANDLE);
   if(count <= 0)
      return (int)Done(0);
   if(start < 0 || start + count > ArraySize(ticks))
      return (int)Done(MT5B_E_ARG);
   ArrayResize(m_time, count, 1024);
   ArrayResize(m_bid, count, 1024);
   ArrayResize(m_ask, count, 1024);
   ArrayResize(m_lastPrice, count, 1024);
   ArrayResize(m_volume, count, 1024);
   ArrayResize(m_volumeReal, count, 1024);
   ArrayResize(m_flags, count, 1024);
   for(int i = 0; i < count; i++)
     {
      int k = start + i;
      m_time[i] = ticks[k].time_msc;
      m_bid[i] = ticks[k].bid;
      m_ask[i] = ticks[k].ask;
      m_lastPrice[i] = ticks[k].last;
      m_volume[i] = (long)ticks[k].volume;
      m_volumeReal[i] = ticks[k].volume_real;
      m_flags[i] = (int)ticks[k].flags;      // kept raw: the engine stores the bits as received
     }
   int n = Utf8(symbol, m_s1, -1);
   return (int)Done(mt5b_ticks(m_handle, m_s1, n, m_time, m_bid, m_ask, m_lastPrice, m_volume,
                               m_volumeReal, m_flags, count, first_index));
  }

//+------------------------------------------------------------------+
long CMT5Bridge::SymbolSpec(const string symbol, const int digits, const double point,
                            const double contract_size, const double tick_size,
                            const double tick_value, const double volume_min,
                            const double volume_max, const double volume_step,
                            const int chart_mode)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   int n = Utf8(symbol, m_s1, -1);
   return Done(mt5b_symbol_spec2(m_handle, m_s1, n, digits, point, contract_size, tick_size,
                                 tick_value, volume_min, volume_max, volume_step, chart_mode));
  }

//+------------------------------------------------------------------+
//| MqlRates.time is in seconds; the protocol's bar times are ms.     |
//+------------------------------------------------------------------+
long CMT5Bridge::Bars(const string symbol, const string timeframe, const MqlRates &rates[],
                      const int start, const int count)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   if(count <= 0 || start < 0 || start + count > ArraySize(rates))
      return Done(MT5B_E_ARG);
   int n1 = Utf8(symbol, m_s1, -1);
   int n2 = Utf8(timeframe, m_s2, 8);
   long rc = 0;
   for(int from = 0; from < count; from += MT5B_MAX_BATCH_BARS)
     {
      int m = count - from;
      if(m > MT5B_MAX_BATCH_BARS)
         m = MT5B_MAX_BATCH_BARS;
      ArrayResize(m_time, m, 1024);
      ArrayResize(m_open, m, 1024);
      ArrayResize(m_high, m, 1024);
      ArrayResize(m_low, m, 1024);
      ArrayResize(m_close, m, 1024);
      ArrayResize(m_tickVolume, m, 1024);
      ArrayResize(m_realVolume, m, 1024);
      ArrayResize(m_spread, m, 1024);
      for(int i = 0; i < m; i++)
        {
         int k = start + from + i;
         m_time[i] = (long)rates[k].time * 1000;
         m_open[i] = rates[k].open;
         m_high[i] = rates[k].high;
         m_low[i] = rates[k].low;
         m_close[i] = rates[k].close;
         m_tickVolume[i] = rates[k].tick_volume;
         m_realVolume[i] = rates[k].real_volume;
         m_spread[i] = rates[k].spread;
        }
      rc = mt5b_bar_batch(m_handle, m_s1, n1, m_s2, n2, m_time, m_open, m_high, m_low, m_close,
                          m_tickVolume, m_realVolume, m_spread, m);
      if(rc < 0)
         return Done(rc);
     }
   return Done(rc);
  }

//+------------------------------------------------------------------+
long CMT5Bridge::OrderEvent(const long ticket, const long time_msc, const string symbol,
                            const int order_type, const int state, const double volume_initial,
                            const double volume_current, const double price_open,
                            const double sl, const double tp, const long magic,
                            const long position_id, const string comment, const int event)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   int n1 = Utf8(symbol, m_s1, -1);
   int n2 = Utf8(comment, m_s2, MT5B_MAX_NAME_BYTES);
   return Done(mt5b_order_event(m_handle, ticket, time_msc, m_s1, n1, order_type, state,
                                volume_initial, volume_current, price_open, sl, tp, magic,
                                position_id, m_s2, n2, event));
  }

//+------------------------------------------------------------------+
//| The metadata and the id are never cut: cut JSON is no JSON, and a |
//| cut id would be another signal's. The library refuses them       |
//| (MT5B_E_ARG) when they are too long or not what they should be.   |
//+------------------------------------------------------------------+
long CMT5Bridge::Signal(const long time_msc, const string symbol, const string signal_type,
                        const double price, const double confidence, const string strategy,
                        const string timeframe, const string reason,
                        const string metadata_json, const string signal_id)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   int n1 = Utf8(symbol, m_s1, -1);
   int n2 = Utf8(signal_type, m_s2, -1);
   int n3 = Utf8(strategy, m_s3, MT5B_MAX_NAME_BYTES);
   int n4 = Utf8(timeframe, m_s4, 8);
   int n5 = Utf8(reason, m_s5, MT5B_MAX_TEXT_BYTES);
   int n6 = Utf8(metadata_json, m_s6, -1);
   int n7 = Utf8(signal_id, m_s7, -1);
   return Done(mt5b_signal(m_handle, time_msc, m_s1, n1, m_s2, n2, price, confidence, m_s3, n3,
                           m_s4, n4, m_s5, n5, m_s6, n6, m_s7, n7));
  }

//+------------------------------------------------------------------+
long CMT5Bridge::Deal(const long ticket, const long order_ticket, const long position_id,
                      const long time_msc, const int deal_type, const int entry,
                      const string symbol, const double volume, const double price,
                      const double profit, const double commission, const double swap_value,
                      const double fee, const long magic, const int reason, const string comment)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   int n1 = Utf8(symbol, m_s1, -1);
   int n2 = Utf8(comment, m_s2, MT5B_MAX_NAME_BYTES);
   return Done(mt5b_deal(m_handle, ticket, order_ticket, position_id, time_msc, deal_type, entry,
                         m_s1, n1, volume, price, profit, commission, swap_value, fee, magic,
                         reason, m_s2, n2));
  }

//+------------------------------------------------------------------+
int CMT5Bridge::PositionsBegin(const long time_msc)
  {
   if(!IsOpen())
      return (int)Done(MT5B_E_HANDLE);
   return (int)Done(mt5b_positions_begin(m_handle, time_msc));
  }

//+------------------------------------------------------------------+
int CMT5Bridge::PositionsAdd(const long identifier, const long ticket, const string symbol,
                             const int position_type, const double volume,
                             const double price_open, const double price_current,
                             const double sl, const double tp, const double profit,
                             const double swap_value, const long magic, const long time_msc)
  {
   if(!IsOpen())
      return (int)Done(MT5B_E_HANDLE);
   int n = Utf8(symbol, m_s1, -1);
   return (int)Done(mt5b_positions_add(m_handle, identifier, ticket, m_s1, n, position_type, volume,
                                       price_open, price_current, sl, tp, profit, swap_value,
                                       magic, time_msc));
  }

//+------------------------------------------------------------------+
long CMT5Bridge::PositionsEnd(void)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   return Done(mt5b_positions_end(m_handle));
  }

//+------------------------------------------------------------------+
long CMT5Bridge::Account(const long time_msc, const double balance, const double equity,
                         const double margin, const double free_margin,
                         const double margin_level, const double profit,
                         const int open_positions, const double open_volume)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   return Done(mt5b_account_snapshot(m_handle, time_msc, balance, equity, margin, free_margin,
                                     margin_level, profit, open_positions, open_volume));
  }

//+------------------------------------------------------------------+
long CMT5Bridge::Status(const long time_msc, const int state, const bool terminal_trade_allowed,
                        const bool ea_trade_allowed, const bool connected, const int last_error,
                        const string message)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   int n = Utf8(message, m_s1, MT5B_MAX_TEXT_BYTES);
   return Done(mt5b_status(m_handle, time_msc, state, terminal_trade_allowed ? 1 : 0,
                           ea_trade_allowed ? 1 : 0, connected ? 1 : 0,
                           last_error < 0 ? 0 : last_error, m_s1, n));
  }

//+------------------------------------------------------------------+
long CMT5Bridge::Log(const long time_msc, const int level, const string message)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   int n = Utf8(message, m_s1, MT5B_MAX_TEXT_BYTES);
   return Done(mt5b_log(m_handle, time_msc, level, m_s1, n));
  }

//+------------------------------------------------------------------+
//| Takes the oldest waiting command. expires_at is engine time (UTC  |
//| ms). A buffer that is too small is grown to the size the library |
//| reports and the poll repeated: the command stays in the inbox     |
//| until it fits.                                                    |
//+------------------------------------------------------------------+
int CMT5Bridge::PollCommand(string &id, string &type, string &payload_json, long &expires_at)
  {
   if(!IsOpen())
      return (int)Done(MT5B_E_HANDLE);
   Grow(m_cmdId, 255);
   Grow(m_cmdType, 63);
   Grow(m_cmdPayload, 8191);
   for(int attempt = 0; attempt < 3; attempt++)
     {
      int id_len = 0;
      int type_len = 0;
      int payload_len = 0;
      expires_at = 0;
      int rc = mt5b_poll_command(m_handle, m_cmdId, ArraySize(m_cmdId), id_len,
                                 m_cmdType, ArraySize(m_cmdType), type_len,
                                 m_cmdPayload, ArraySize(m_cmdPayload), payload_len, expires_at);
      m_last = rc;
      if(rc == MT5B_E_BUFFER)
        {
         Grow(m_cmdId, id_len);
         Grow(m_cmdType, type_len);
         Grow(m_cmdPayload, payload_len);
         continue;
        }
      if(rc != 1)
         return rc;
      id = FromUtf8(m_cmdId, id_len);
      type = FromUtf8(m_cmdType, type_len);
      payload_json = FromUtf8(m_cmdPayload, payload_len);
      return 1;
     }
   return (int)Done(MT5B_E_BUFFER);
  }

//+------------------------------------------------------------------+
long CMT5Bridge::Ack(const string id, const int status, const string reason)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   int n1 = Utf8(id, m_s1, -1);
   int n2 = Utf8(reason, m_s2, MT5B_MAX_TEXT_BYTES);
   return Done(mt5b_command_ack(m_handle, m_s1, n1, status, m_s2, n2));
  }

//+------------------------------------------------------------------+
//| result_json: a JSON object as text, or "" for none.               |
//+------------------------------------------------------------------+
long CMT5Bridge::Result(const string id, const bool ok, const string result_json, const string error)
  {
   if(!IsOpen())
      return Done(MT5B_E_HANDLE);
   int n1 = Utf8(id, m_s1, -1);
   int n2 = Utf8(result_json, m_s2, -1);
   int n3 = Utf8(error, m_s3, MT5B_MAX_TEXT_BYTES);
   return Done(mt5b_command_result(m_handle, m_s1, n1, ok ? 1 : 0, m_s2, n2, m_s3, n3));
  }

//+------------------------------------------------------------------+
int CMT5Bridge::TickCursor(const string symbol, long &time_msc, int &count)
  {
   if(!IsOpen())
      return (int)Done(MT5B_E_HANDLE);
   int n = Utf8(symbol, m_s1, -1);
   long msc = 0;
   int cnt = 0;
   int rc = (int)Done(mt5b_tick_cursor(m_handle, m_s1, n, msc, cnt));
   if(rc == 1)
     {
      time_msc = msc;
      count = cnt;
     }
   return rc;
  }

//+------------------------------------------------------------------+
bool CMT5Bridge::Stats(long &out[])
  {
   ArrayResize(out, MT5B_STAT_COUNT);
   ArrayInitialize(out, 0);
   if(!IsOpen())
      return Check(MT5B_E_HANDLE);
   return Check(mt5b_stats(m_handle, out, MT5B_STAT_COUNT));
  }

//+------------------------------------------------------------------+
//| Unacknowledged data is lost with the handle: call it after the EA |
//| has stopped producing, with a timeout short enough for OnDeinit.  |
//+------------------------------------------------------------------+
int CMT5Bridge::Close(const int timeout_ms)
  {
   if(!IsOpen())
      return 0;
   long h = m_handle;
   m_handle = 0;
   return (int)Done(mt5b_close(h, timeout_ms < 0 ? 0 : timeout_ms));
  }

#endif // MT5BRIDGE_BRIDGE_MQH
