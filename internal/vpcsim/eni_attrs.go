package vpcsim

import "fmt"

// SetSourceDestCheck turns an ENI's source/destination check on or off, as
// ModifyNetworkInterfaceAttribute does in EC2. It is off on the ENIs
// AddNetworkInterface creates (they stand for appliances and routers, which
// must forward); DescribeNetworkInterfaces reports it as sourceDestCheck.
func (v *VPC) SetSourceDestCheck(id string, on bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.enis[id]; !ok {
		return fmt.Errorf("set source/destination check: %w", errENINotFound(id))
	}
	if on {
		v.srcDstCheck[id] = true
	} else {
		delete(v.srcDstCheck, id)
	}
	v.bumpLocked()
	return nil
}
