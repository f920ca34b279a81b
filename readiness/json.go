package readiness

import (
	"bytes"
	"encoding/json"
	"fmt"
)

type reasonJSON struct {
	Code     Code     `json:"code"`
	Message  string   `json:"message"`
	Blocking bool     `json:"blocking"`
	Fix      []string `json:"fix,omitempty"`
}

// MarshalJSON writes {"code", "message", "blocking", "fix"}.
func (r Reason) MarshalJSON() ([]byte, error) {
	return json.Marshal(reasonJSON{r.Code, r.Message, r.Code.Blocking(), r.Fix})
}

// UnmarshalJSON reads what MarshalJSON writes; blocking follows the code.
func (r *Reason) UnmarshalJSON(b []byte) error {
	var j reasonJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Reason{Code: j.Code, Message: j.Message, Fix: j.Fix}
	return nil
}

// MarshalJSON writes the device as `list --json` does, with "assignable"
// and "reasons" added at the end, so that a reader of devices reads
// verdicts too.
func (v Verdict) MarshalJSON() ([]byte, error) {
	// Called directly: json.Marshal would check and compact the
	// device's output once more, for nothing.
	dev, err := v.Device.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if len(dev) < 2 || dev[len(dev)-1] != '}' {
		return nil, fmt.Errorf("device %s: JSON is not an object", v.Device.Name)
	}
	// reasonJSON, not Reason, so that json.Marshal does not check and
	// compact each reason's own output once more.
	reasons := make([]reasonJSON, len(v.Reasons))
	for i, r := range v.Reasons {
		reasons[i] = reasonJSON{r.Code, r.Message, r.Code.Blocking(), r.Fix}
	}
	extra, err := json.Marshal(struct {
		Assignable bool         `json:"assignable"`
		Reasons    []reasonJSON `json:"reasons"`
	}{v.Assignable, reasons})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(dev[:len(dev)-1])
	if len(dev) > 2 {
		b.WriteByte(',')
	}
	b.Write(extra[1:])
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (v *Verdict) UnmarshalJSON(b []byte) error {
	var extra struct {
		Assignable bool     `json:"assignable"`
		Reasons    []Reason `json:"reasons"`
	}
	if err := json.Unmarshal(b, &extra); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &v.Device); err != nil {
		return err
	}
	v.Assignable, v.Reasons = extra.Assignable, nil
	if len(extra.Reasons) > 0 {
		v.Reasons = extra.Reasons
	}
	return nil
}
