// Package qrcode owns the shopper-facing side of shelf QR codes: it draws random short codes, encodes
// URLs as QR PNGs, renders printable A4 label sheets for store staff, and renders the mobile landing
// pages a shopper sees after scanning a label with WeChat, Alipay or a phone camera.
//
// Everything here is a pure function of its arguments. The package must not open a database, speak
// HTTP, read configuration or import core: callers (core, handlers, cmd) look things up and hand the
// facts in, and decide status codes and headers themselves. All user-visible text is Chinese and money
// is integer fen, shown as ¥12.30.
package qrcode
