package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/staff"
)

// The demo chain: three Shanghai stores at real addresses, twenty everyday products.
var demoStores = []catalog.StoreInput{
	{Code: "S01", Name: "人民广场店", Address: "上海市黄浦区南京东路800号", Lat: 31.2354, Lng: 121.4757, Status: "open"},
	{Code: "S02", Name: "静安寺店", Address: "上海市静安区南京西路1618号", Lat: 31.2234, Lng: 121.4452, Status: "open"},
	{Code: "S03", Name: "陆家嘴店", Address: "上海市浦东新区陆家嘴环路1000号", Lat: 31.2376, Lng: 121.5049, Status: "open"},
}

var demoProducts = []catalog.ProductInput{
	{SKU: "MILK-1L", Name: "光明鲜牛奶 1L", PriceFen: 1590},
	{SKU: "YOGURT-200", Name: "安慕希酸奶 200g", PriceFen: 650},
	{SKU: "BREAD-TOAST", Name: "桃李吐司面包", PriceFen: 890},
	{SKU: "EGG-10", Name: "土鸡蛋 10枚", PriceFen: 1980},
	{SKU: "RICE-5KG", Name: "五常大米 5kg", PriceFen: 6990},
	{SKU: "OIL-5L", Name: "金龙鱼调和油 5L", PriceFen: 7490},
	{SKU: "SOY-500", Name: "海天生抽 500ml", PriceFen: 990},
	{SKU: "NOODLE-5", Name: "康师傅红烧牛肉面 5连包", PriceFen: 1450},
	{SKU: "WATER-550", Name: "农夫山泉 550ml", PriceFen: 200},
	{SKU: "COLA-330", Name: "可口可乐 330ml", PriceFen: 350},
	{SKU: "TEA-500", Name: "东方树叶乌龙茶 500ml", PriceFen: 550},
	{SKU: "COFFEE-DRIP", Name: "三顿半挂耳咖啡 10包", PriceFen: 6900},
	{SKU: "APPLE-1KG", Name: "烟台红富士苹果 1kg", PriceFen: 1290},
	{SKU: "BANANA-1KG", Name: "海南香蕉 1kg", PriceFen: 790},
	{SKU: "TISSUE-3", Name: "维达抽纸 3包", PriceFen: 1190},
	{SKU: "SHAMPOO-400", Name: "海飞丝洗发水 400ml", PriceFen: 4590},
	{SKU: "TOOTHPASTE", Name: "云南白药牙膏 120g", PriceFen: 2690},
	{SKU: "DUMPLING-1KG", Name: "湾仔码头水饺 1kg", PriceFen: 3990},
	{SKU: "ZONGZI-4", Name: "五芳斋粽子 4只装", PriceFen: 2990},
	{SKU: "MOONCAKE-6", Name: "杏花楼月饼 6只装", PriceFen: 12800},
}

// seedDemo creates or refreshes the demo chain. It sets stock levels only where a store has none yet, so
// restarting the demo keeps what was sold, and creates the staff accounts it lacks (an admin and a
// clerk per store), printing their new passwords to out once.
func seedDemo(ctx context.Context, svc *core.Service, out io.Writer) error {
	for _, st := range demoStores {
		if _, err := svc.Catalog.PutStore(ctx, st); err != nil {
			return err
		}
	}
	for i, p := range demoProducts {
		if _, err := svc.Catalog.PutProduct(ctx, p); err != nil {
			return err
		}
		for j, st := range demoStores {
			cur, err := svc.Catalog.Stock(ctx, st.Code, p.SKU)
			if err != nil {
				return err
			}
			if cur.OnHand > 0 || cur.Reserved > 0 {
				continue
			}
			// Vary the levels so stores differ: some items run short at some stores.
			qty := int64((i*7+j*13)%40 + 3)
			if _, err := svc.Catalog.SetStock(ctx, st.Code, p.SKU, qty, "demo_seed"); err != nil {
				return err
			}
		}
	}
	return seedDemoStaff(ctx, svc, out)
}

// seedDemoStaff creates the demo's admin and one clerk per store where they do not exist yet, and
// prints the passwords of the accounts this process created, and only those: each account is created
// with an insert that does nothing when it exists, so of several replicas seeding one database at once
// each account is made, and its password printed, by exactly one.
func seedDemoStaff(ctx context.Context, svc *core.Service, out io.Writer) error {
	accounts := []staff.Input{{Username: "admin", Role: staff.RoleAdmin}}
	for _, st := range demoStores {
		accounts = append(accounts, staff.Input{Username: "clerk-" + strings.ToLower(st.Code), Role: staff.RoleClerk, Store: st.Code})
	}
	var created []string
	for _, a := range accounts {
		if _, err := svc.Staff.Account(ctx, a.Username); err == nil {
			continue // no need to hash a password for an account that exists
		} else if !errors.Is(err, domain.ErrNotFound) {
			return err
		}
		var err error
		if a.Password, err = newPassword(); err != nil {
			return err
		}
		_, made, err := svc.Staff.Create(ctx, a)
		if err != nil {
			return err
		}
		if !made {
			continue // another process created it a moment ago
		}
		where := "every store"
		if a.Store != "" {
			where = "store " + a.Store
		}
		created = append(created, fmt.Sprintf("  %-10s %s  (%s)", a.Username, a.Password, where))
	}
	if len(created) > 0 {
		fmt.Fprintf(out, "demo staff accounts for /console/ and POST /api/v1/store/login (passwords shown once; reset with `o2ohub staff set NAME --role …`):\n%s\n", strings.Join(created, "\n"))
	}
	return nil
}
