// Package wechat connects the hub to WeChat: mini-program login and phone numbers, subscribe messages
// and shipping uploads through github.com/silenceper/wechat/v2, and WeChat Pay APIv3 (JSAPI prepay,
// notifications, query and close, refunds) through github.com/wechatpay-apiv3/wechatpay-go. It turns
// WeChat's formats into core's types and implements core's gateway interfaces; the business rules stay in
// core. Package wechatfake beside it is a working WeChat for tests and the sandbox.
//
// silenceper/wechat builds its URLs from constants and sends them through process-wide hooks; this
// package installs those hooks once (see UseAPIBase), so one process talks to one WeChat API base.
package wechat
