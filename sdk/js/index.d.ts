// Type definitions for the EcomDash browser tracker (dist/analytics-sdk.js).
// The script defines one global, `ecomDashAnalytics`; before it loads, that global may be an array
// of pending calls (`[method, ...args]`), replayed in order once the script runs.

/** Flat properties: the daemon rejects nested objects or arrays in `props`. */
export type Props = Record<string, string | number | boolean | null>

/** One line of an order (DESIGN.md `ecommerce.order_items`). */
export interface OrderItem {
  product_id?: string
  quantity?: number
  price?: number
}

/** The ecommerce fields of a wire event (DESIGN.md "Event model"). */
export interface EcommerceData {
  product_id?: string
  product_name?: string
  product_price?: number
  product_quantity?: number
  order_id?: string
  order_value?: number
  /** ISO 4217 code, e.g. "USD". */
  order_currency?: string
  order_items?: OrderItem[]
}

/** Common ecommerce event names; any other non-empty name is accepted too. */
export type EcommerceEventType =
  | 'view_item'
  | 'add_to_cart'
  | 'remove_from_cart'
  | 'view_cart'
  | 'begin_checkout'
  | 'add_payment_info'
  | 'purchase'
  | 'refund'
  | (string & {})

/** A call waiting in the pre-load queue, e.g. `['event', 'signup', { plan: 'pro' }]`. */
export type QueuedCall =
  | ['event', string, Props?]
  | ['trackEcommerce', EcommerceEventType, EcommerceData?]
  | ['identify', string, Props?]
  | ['page', string?]
  | ['optOut']
  | ['optIn']

export interface EcomDashAnalytics {
  /** A custom event (`type: "custom"`). Strings in `props` are redacted before sending. */
  event(name: string, props?: Props): void
  /** An ecommerce event (`type: "ecommerce"`, `name: type`). */
  trackEcommerce(type: EcommerceEventType, data?: EcommerceData): void
  /**
   * An `identify` event with `traits` as props. The user id is attached to this and every later
   * event of the page only with `data-privacy="off"`; the other modes never send it.
   */
  identify(userId: string, traits?: Props): void
  /** A pageview of `url` (resolved against the current location), or of the current location. */
  page(url?: string): void
  /** Stops all sending on this site in this browser (remembered in localStorage). */
  optOut(): void
  /** Undoes `optOut()`. */
  optIn(): void
  /** Runs one queued call: what the pre-load queue's entries are replayed through. */
  push(call: QueuedCall): void
}

declare global {
  interface Window {
    ecomDashAnalytics: EcomDashAnalytics | QueuedCall[]
  }
  const ecomDashAnalytics: EcomDashAnalytics
}
