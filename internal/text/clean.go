package text

import "reflect"

// CleanAll applies Clean to every string v points to: each string (of any string type) in a struct,
// through pointers, structs, slices and arrays, however deep. Maps, interfaces and unexported fields are
// left alone. It is for a verified notification or push, normalised into a struct, whose text the hub
// keeps whatever it holds. v must be a non-nil pointer; anything else is left as it is.
func CleanAll(v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return
	}
	cleanValue(rv.Elem())
}

func cleanValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			if s := v.String(); Check(s, Printed) != nil {
				v.SetString(Clean(s))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			cleanValue(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				cleanValue(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			cleanValue(v.Index(i))
		}
	}
}
