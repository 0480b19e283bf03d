/**
 * The SubscriberPort of a real `ws` connection: frames encoded and sent as binary, `buffered()` is
 * `ws.bufferedAmount`, and the drain is the TCP socket's.
 */
import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { SubscriberPort } from './hub.js'

/**
 * A port over `ws`. `encode` turns a frame into bytes (the protocol's `encode`). `socket` is the
 * TCP socket under `ws` (the gateway has it from the upgrade); by default the one `ws` holds.
 *
 * Drain listeners run on the socket's 'drain' and also whenever every frame written through this
 * port has left for the operating system: a socket whose buffer never passed its own
 * highWaterMark (16 KiB) emits no 'drain', and a hub high-water mark below that would otherwise
 * wait forever. Frames sent while the socket is not open are ignored (the connection's close
 * detaches the port).
 */
export function wsPort(ws: WebSocket, encode: (frame: Record<string, unknown>) => Uint8Array, socket?: Socket): SubscriberPort {
  const raw = socket ?? (ws as unknown as { _socket?: Socket })._socket
  const listeners = new Set<() => void>()
  /** Frames handed to ws whose write has not completed. */
  let unwritten = 0
  const fire = (): void => {
    for (const listener of listeners) listener()
  }
  const written = (): void => {
    if (--unwritten === 0 && listeners.size > 0) fire()
  }
  return {
    send(frame) {
      if (ws.readyState !== ws.OPEN) return
      const bytes = encode(frame)
      unwritten++
      ws.send(bytes, written)
    },
    buffered() {
      return ws.bufferedAmount
    },
    onDrain(listener) {
      listeners.add(listener)
      if (listeners.size === 1) raw?.on('drain', fire)
      return () => {
        if (!listeners.delete(listener)) return
        if (listeners.size === 0) raw?.off('drain', fire)
      }
    },
  }
}
