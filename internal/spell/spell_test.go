package spell

import "testing"

func TestSuggest(t *testing.T) {
	names := []string{"vendor", "product", "hostbus", "hostaddr"}
	for in, want := range map[string]string{
		"vendr": "vendor", "prodcut": "product", "hostbsu": "hostbus",
		"hostadr": "hostaddr", "colour": "", "": "",
	} {
		if got := Suggest(in, names); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d, want 3", d)
	}
}
