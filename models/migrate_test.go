package models_test

import (
	"context"
	"sync"
	"testing"

	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

func TestConcurrentMigrationsAreSafe(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		// dbtest already migrated once; several replicas starting together must all succeed.
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := db.Migrate(context.Background()); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		v, err := db.AppliedVersion(context.Background())
		if err != nil || v != models.SchemaVersion() {
			t.Fatalf("version %d (%v), want %d", v, err, models.SchemaVersion())
		}
	})
}

func TestSettingIsCreatedOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		var wg sync.WaitGroup
		got := make([]string, 8)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := db.Setting(context.Background(), "k", func() (string, error) { return "v" + string(rune('a'+i)), nil })
				if err != nil {
					t.Error(err)
				}
				got[i] = v
			}()
		}
		wg.Wait()
		for _, v := range got {
			if v != got[0] || v == "" {
				t.Fatalf("concurrent first calls disagree: %v", got)
			}
		}
	})
}
