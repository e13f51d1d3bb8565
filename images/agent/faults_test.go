package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestPodCgroupsSkipsTheAgentsOwnPod(t *testing.T) {
	root := t.TempDir()
	for _, dir := range []string{
		"kubelet.slice/kubelet.service",
		"kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-poda88dd927_d3f5_4f75_aa0e_22e998c2bb25.slice/cri-containerd-1.scope",
		"kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-poddd62e50a_a228_4ab7_9f1e_609e6d3a5885.slice",
		"kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod11111111_2222_3333_4444_555555555555.slice",
		"kubepods/besteffort/pod01234567-89ab-cdef-0123-456789abcdef/abc",
	} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := podCgroups(root, "dd62e50a-a228-4ab7-9f1e-609e6d3a5885")
	want := []string{
		"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-poda88dd927_d3f5_4f75_aa0e_22e998c2bb25.slice",
		"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod11111111_2222_3333_4444_555555555555.slice",
		"/kubepods/besteffort/pod01234567-89ab-cdef-0123-456789abcdef",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("podCgroups = %v, want %v", got, want)
	}
}

func TestKubeconfigServers(t *testing.T) {
	doc := "clusters:\n- cluster:\n    certificate-authority-data: x\n    server: https://chaos-control-plane:6443\n" +
		"- cluster:\n    server: \"https://[fd00::1]\"\n"
	got := kubeconfigServers(doc)
	want := []string{"chaos-control-plane:6443", "[fd00::1]:443"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("kubeconfigServers = %v, want %v", got, want)
	}
}

func TestPartitionAddressesSkipLoopbackAndSplitFamilies(t *testing.T) {
	v4, v6 := partition{peers: []string{"127.0.0.1:6444", "172.18.0.2:6443", "10.96.0.1:443", "172.18.0.2:6443",
		"[fd00::1]:6443", "[::1]:6443"}}.addresses()
	if !reflect.DeepEqual(v4, []string{"172.18.0.2", "10.96.0.1"}) || !reflect.DeepEqual(v6, []string{"fd00::1"}) {
		t.Fatalf("addresses = %v %v", v4, v6)
	}
}

func TestPartitionRulesLetTheControlMarkThrough(t *testing.T) {
	nft := nftScript([]string{"172.18.0.2"}, nil)
	for _, want := range []string{"meta mark and 0x2000 == 0x2000 ct mark set ct mark or 0x2000 accept",
		"cut_in ct mark and 0x2000 == 0x2000 accept", "cut_out ip daddr { 172.18.0.2 } drop", "cut_fwd ip saddr { 172.18.0.2 } drop"} {
		if !strings.Contains(nft, want) {
			t.Errorf("nft script lacks %q:\n%s", want, nft)
		}
	}
	if strings.Index(nft, "accept") > strings.Index(nft, "drop") {
		t.Error("the control mark must be accepted before anything is dropped")
	}
	ipt := iptablesScript("iptables", []string{"172.18.0.2"})
	if strings.Index(ipt, "-j RETURN") > strings.Index(ipt, "-j DROP") || !strings.Contains(ipt, "-I OUTPUT 1 -j CHAOS-HARNESS-OUTPUT") {
		t.Errorf("iptables script: %s", ipt)
	}
}
