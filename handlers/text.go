package handlers

// Text from outside is checked once, here at the edge, by internal/text: JSON bodies (bindJSON), path
// and query parameters (checkText) and console forms (conParseForm). A NUL, bytes that are not UTF-8 or
// a control character are refused with 400 naming the field; in text that is shown or printed (names,
// addresses, codes, reasons: every field but those in freeTextFields) so are tabs, line breaks and
// bidirectional overrides. A verified provider notification or platform push is never refused for its
// text: what it carries is cleaned by core, which keeps it whatever it holds.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/text"
)

// freeTextFields are the JSON and form fields that are not shown or printed, checked as text.Free
// (tabs and line breaks allowed): a password, and the signed payload of Alipay's phone number response.
// Every other field is printed text.
var freeTextFields = map[string]bool{"password": true, "response": true}

// textKind is how strictly the field (JSON member or form field) named key is checked.
func textKind(key string) text.Kind {
	if freeTextFields[strings.ToLower(key)] {
		return text.Free
	}
	return text.Printed
}

// checkText refuses a request whose path or query parameters hold text the hub does not take (see
// text.Check: every parameter is printed text), with 400 naming the parameter; a console page answers
// with its error page. The webhooks' queries are the providers' and platforms' own: they are verified
// and cleaned, never refused.
func checkText() gin.HandlerFunc {
	return func(c *gin.Context) {
		if msg, zh := paramProblem(c); msg != "" {
			if strings.HasPrefix(c.Request.URL.Path, "/console/") {
				conRenderError(c, http.StatusBadRequest, zh)
				c.Abort()
				return
			}
			respondError(c, kindError(domain.ErrInvalidArgument, msg))
			return
		}
		c.Next()
	}
}

// paramProblem says what is wrong with the first bad path or query parameter of c, in English for the
// API and in Chinese for the console; both are "" when nothing is.
func paramProblem(c *gin.Context) (msg, zh string) {
	for _, p := range c.Params {
		if err := text.Check(p.Value, text.Printed); err != nil {
			return fmt.Sprintf("path parameter %q %v", p.Key, err), fmt.Sprintf("地址中的「%s」%s。", p.Key, zhProblem(err))
		}
	}
	if strings.HasPrefix(c.Request.URL.Path, "/webhooks/") {
		return "", ""
	}
	q, _ := url.ParseQuery(c.Request.URL.RawQuery)
	for k, vs := range q {
		if err := text.Check(k, text.Printed); err != nil {
			return fmt.Sprintf("query parameter name %q %v", k, err), fmt.Sprintf("地址中的参数名%s。", zhProblem(err))
		}
		for _, v := range vs {
			if err := text.Check(v, text.Printed); err != nil {
				return fmt.Sprintf("query parameter %q %v", k, err), fmt.Sprintf("地址中的参数「%s」%s。", k, zhProblem(err))
			}
		}
	}
	return "", ""
}

// formProblem says in Chinese what is wrong with the first bad field of a parsed console form; "" when
// nothing is.
func formProblem(form url.Values) string {
	for k, vs := range form {
		if err := text.Check(k, text.Printed); err != nil {
			return fmt.Sprintf("表单中有一项的名称%s，请刷新页面后重试。", zhProblem(err))
		}
		for _, v := range vs {
			if err := text.Check(v, textKind(k)); err != nil {
				return fmt.Sprintf("表单项「%s」%s，请删除这些字符后重试。", k, zhProblem(err))
			}
		}
	}
	return ""
}

// zhProblem says in Chinese what text.Check found.
func zhProblem(err error) string {
	te, _ := err.(*text.Error)
	if te == nil {
		return "含有不允许的字符"
	}
	switch te.Problem {
	case text.NUL:
		return "含有空字符（U+0000）"
	case text.InvalidUTF8:
		return "不是有效的 UTF-8 文本"
	case text.Control:
		return fmt.Sprintf("含有控制字符（%U，如换行、制表符）", te.Rune)
	case text.Bidi:
		return fmt.Sprintf("含有双向文本控制字符（%U）", te.Rune)
	}
	return "含有不允许的字符"
}
