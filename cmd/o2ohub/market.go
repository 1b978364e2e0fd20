package main

import (
	"fmt"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/integrations/eleme"
	"github.com/o2ohub/o2ohub/integrations/jddj"
	"github.com/o2ohub/o2ohub/integrations/meituan"
)

// registerPlatforms enables each platform whose credentials are configured (config has checked that
// each is configured whole); a platform left empty stays off and its webhooks answer 404.
func registerPlatforms(svc *core.Service, cfg config.Config) error {
	if cfg.MeituanAppID != "" {
		c, err := meituan.New(meituan.Config{AppID: cfg.MeituanAppID, AppSecret: cfg.MeituanAppSecret, Base: cfg.MeituanBase})
		if err != nil {
			return fmt.Errorf("meituan: %w", err)
		}
		svc.Market.Register(c)
	}
	if cfg.ElemeSource != "" {
		c, err := eleme.New(eleme.Config{Source: cfg.ElemeSource, Secret: cfg.ElemeSecret, Base: cfg.ElemeBase})
		if err != nil {
			return fmt.Errorf("eleme: %w", err)
		}
		svc.Market.Register(c)
	}
	if cfg.JDDJAppKey != "" {
		c, err := jddj.New(jddj.Config{AppKey: cfg.JDDJAppKey, AppSecret: cfg.JDDJAppSecret, Token: cfg.JDDJToken, Operator: cfg.JDDJOperator, Base: cfg.JDDJBase})
		if err != nil {
			return fmt.Errorf("jddj: %w", err)
		}
		svc.Market.Register(c)
	}
	return nil
}
