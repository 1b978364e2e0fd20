package catalog

import (
	"context"
	"math"
	"sort"

	"github.com/o2ohub/o2ohub/models"
)

const earthRadiusM = 6371008.8

// DistanceM returns the great-circle (haversine) distance between two points in metres.
func DistanceM(lat1, lng1, lat2, lng2 float64) float64 {
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLng := (lng2 - lng1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(a)))
}

// ValidCoord reports whether lat and lng are a position on Earth.
func ValidCoord(lat, lng float64) bool {
	return !math.IsNaN(lat) && !math.IsNaN(lng) && lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180
}

// NearestOpen returns the open stores within radius metres of a point, nearest first, leaving out the
// stores whose ids are in skip.
func (s *Service) NearestOpen(ctx context.Context, lat, lng, radius float64, skip []int64) ([]models.Store, error) {
	q := s.DB.Conn(ctx).Where("status = ?", StoreOpen)
	if len(skip) > 0 {
		q = q.Where("id NOT IN ?", skip)
	}
	var all []models.Store
	if err := q.Find(&all).Error; err != nil {
		return nil, err
	}
	var out []models.Store
	for _, st := range all {
		if DistanceM(lat, lng, st.Lat, st.Lng) <= radius {
			out = append(out, st)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return DistanceM(lat, lng, out[i].Lat, out[i].Lng) < DistanceM(lat, lng, out[j].Lat, out[j].Lng)
	})
	return out, nil
}
