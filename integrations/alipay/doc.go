// Package alipay connects the hub to Alipay through github.com/smartwalle/alipay/v3: mini-program login
// (alipay.system.oauth.token), the encrypted phone number of my.getPhoneNumber, JSAPI_PAY payments
// (alipay.trade.create / query / close), refunds (alipay.trade.refund / fastpay.refund.query) and the
// signed trade_status_sync notifications. Money is integer fen everywhere else in the hub; this package
// is the only place that writes and reads Alipay's yuan strings. Package alipayfake beside it is a
// working Alipay gateway for tests and the sandbox.
package alipay
