/**
 * MT5's integer enumerations, as the EA sends them, and the names the schema stores. An index is
 * the MQL5 enum value (DEAL_TYPE_BUY = 0, ...). Values MetaQuotes adds later are refused by
 * validation with a clear BAD_FIELD instead of failing a database constraint.
 */

/** ACCOUNT_MARGIN_MODE, as accounts.margin_mode. */
export const MARGIN_MODES = ['retail_netting', 'exchange', 'retail_hedging'] as const

/** ACCOUNT_TRADE_MODE, as accounts.trade_mode. */
export const TRADE_MODES = ['demo', 'contest', 'real'] as const

export const DEAL_TYPES = [
  'buy', 'sell', 'balance', 'credit', 'charge', 'correction', 'bonus', 'commission', 'commission_daily',
  'commission_monthly', 'commission_agent_daily', 'commission_agent_monthly', 'interest', 'buy_canceled',
  'sell_canceled', 'dividend', 'dividend_franked', 'tax',
] as const

export const DEAL_ENTRIES = ['in', 'out', 'inout', 'out_by'] as const

export const DEAL_REASONS = [
  'client', 'mobile', 'web', 'expert', 'sl', 'tp', 'so', 'rollover', 'vmargin', 'split', 'corporate_action',
] as const

export const ORDER_TYPES = [
  'buy', 'sell', 'buy_limit', 'sell_limit', 'buy_stop', 'sell_stop', 'buy_stop_limit', 'sell_stop_limit', 'close_by',
] as const

export const ORDER_STATES = [
  'started', 'placed', 'canceled', 'partial', 'filled', 'rejected', 'expired', 'request_add', 'request_modify',
  'request_cancel',
] as const

/** TRADE_TRANSACTION_TYPE, as order_event.event. */
export const TRADE_TRANSACTIONS = [
  'order_add', 'order_update', 'order_delete', 'history_add', 'history_update', 'history_delete', 'deal_add',
  'deal_update', 'deal_delete', 'position', 'request',
] as const

export const POSITION_TYPES = ['buy', 'sell'] as const

/** SYMBOL_CHART_MODE: the price MT5 builds the symbol's bars from (0 Bid, 1 Last), as symbols.chart_mode. */
export const CHART_MODES = ['bid', 'last'] as const

export const TIMEFRAMES = [
  'M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'M10', 'M12', 'M15', 'M20', 'M30', 'H1', 'H2', 'H3', 'H4', 'H6', 'H8', 'H12',
  'D1', 'W1', 'MN1',
] as const

/** The name of an enum value, or undefined when the value is not one MT5 defines. */
export function enumName<T extends readonly string[]>(names: T, value: number): T[number] | undefined {
  return Number.isInteger(value) ? names[value] : undefined
}
