package wechat

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// Template is a subscribe-message template: its ID and which hub field fills each of its keys.
type Template struct {
	ID string
	// Fields maps a template key ("thing2") to a hub field: order_no, store, address, items, amount,
	// time or status.
	Fields map[string]string
}

var templateFields = map[string]bool{"order_no": true, "store": true, "address": true, "items": true, "amount": true, "time": true, "status": true}

// ParseTemplate reads a template setting: "ID" alone uses defaults, "ID|key=field,key=field" names the
// keys of the template as it was chosen in the mini-program console.
func ParseTemplate(spec string, defaults map[string]string) (Template, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return Template{}, nil
	}
	id, fields, found := strings.Cut(spec, "|")
	t := Template{ID: strings.TrimSpace(id), Fields: map[string]string{}}
	if !found {
		for k, v := range defaults {
			t.Fields[k] = v
		}
		return t, nil
	}
	for _, pair := range strings.Split(fields, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || k == "" || !templateFields[v] {
			return Template{}, fmt.Errorf("template %s: %q must be key=field with field one of order_no, store, address, items, amount, time, status", t.ID, pair)
		}
		t.Fields[k] = v
	}
	return t, nil
}

// Default keys of the templates "取货提醒", "退款通知" and "订单状态通知" of WeChat's library.
var (
	DefaultReadyFields    = map[string]string{"character_string1": "order_no", "thing2": "store", "thing3": "items", "time4": "time"}
	DefaultRefundedFields = map[string]string{"character_string1": "order_no", "amount2": "amount", "thing3": "items", "time4": "time"}
	DefaultMovedFields    = map[string]string{"character_string1": "order_no", "thing2": "store", "phrase3": "status", "time4": "time"}
)

func fieldValue(field string, m core.ShopperMessage) string {
	switch field {
	case "order_no":
		return m.OrderNo
	case "store":
		return m.StoreName
	case "address":
		return m.StoreAddress
	case "items":
		return m.Items
	case "amount":
		return fmt.Sprintf("%d.%02d", m.AmountFen/100, m.AmountFen%100)
	case "time":
		return m.At.In(cn.Zone).Format("2006-01-02 15:04")
	case "status":
		switch m.Kind {
		case core.MessageRefunded:
			return "已退款"
		case core.MessageRerouted:
			return "已转门店"
		}
		return "待取货"
	}
	return ""
}

// templateValue fits a value to the rules WeChat sets by key type: thing ≤ 20 characters, phrase ≤ 5,
// character_string ≤ 32, amount with its unit.
func templateValue(key, v string) string {
	switch {
	case strings.HasPrefix(key, "thing"):
		return truncate(v, 20)
	case strings.HasPrefix(key, "phrase"):
		return truncate(v, 5)
	case strings.HasPrefix(key, "character_string"):
		if utf8.RuneCountInString(v) > 32 {
			return string([]rune(v)[:32])
		}
	case strings.HasPrefix(key, "amount"):
		return v + "元"
	}
	return v
}
