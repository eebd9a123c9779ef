package main

import "testing"

// TENANTD_SECURE_COOKIES means the same to every command: 1 is as true as true, and a value
// that is no boolean is an error rather than a silent default.
func TestSecureCookiesSetting(t *testing.T) {
	cases := []struct {
		value   string
		def     bool
		want    bool
		wantErr bool
	}{
		{"", false, false, false},
		{"", true, true, false},
		{"1", false, true, false},
		{"true", false, true, false},
		{"TRUE", false, true, false},
		{"0", true, false, false},
		{"false", true, false, false},
		{"yes", false, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			t.Setenv("TENANTD_SECURE_COOKIES", tc.value)
			got, err := secureCookies(tc.def)
			if (err != nil) != tc.wantErr || err == nil && got != tc.want {
				t.Fatalf("%q (default %v): %v, %v; want %v, error %v", tc.value, tc.def, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
