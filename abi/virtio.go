package abi

// virtio 1.x over MMIO, as the guest's drivers (drivers/virtio) and the
// launcher's devices (tools/vmm/virtio) both speak it. Section numbers are
// those of the virtio 1.2 specification.

// Device IDs (5).
const (
	VirtioDeviceNet     = 1
	VirtioDeviceBlock   = 2
	VirtioDeviceConsole = 3
	VirtioDeviceRNG     = 4
	VirtioDeviceBalloon = 5
	VirtioDevice9P      = 9
)

// virtio-balloon (5.5), used for free page reporting: the driver posts
// chains of device-writable buffers, each naming a free guest-physical
// range (4 KiB-aligned, a multiple of 4 KiB) on the reporting queue; once
// the chain is used the ranges' contents are undefined. Queues are
// inflateq (0), deflateq (1), then statsq, free_page_vq and reporting_vq,
// each present only if its feature is negotiated.
const (
	VirtioBalloonFStatsVQ       = 1 << 1 // VIRTIO_BALLOON_F_STATS_VQ
	VirtioBalloonFFreePageHint  = 1 << 3 // VIRTIO_BALLOON_F_FREE_PAGE_HINT
	VirtioBalloonFPagePoison    = 1 << 4 // VIRTIO_BALLOON_F_PAGE_POISON
	VirtioBalloonFPageReporting = 1 << 5 // VIRTIO_BALLOON_F_PAGE_REPORTING

	VirtioBalloonCfgNumPages = 0 // le32, pages the device asks the driver to give up
	VirtioBalloonCfgActual   = 4 // le32, pages the driver has given up
	VirtioBalloonPageSize    = 4096
)

// virtio-9p (5.11): one request queue, each chain a 9P T-message followed
// by the writable space for its R-message. With Virtio9PFMountTag the
// configuration space holds a little-endian u16 tag length and the tag.
const (
	Virtio9PFMountTag    = 1 << 0 // VIRTIO_9P_MOUNT_TAG
	Virtio9PConfigTagLen = 0      // u16
	Virtio9PConfigTag    = 2      // tag bytes, not NUL-terminated
	Virtio9PMaxTagLen    = 255    // the longest tag unigo offers or accepts
)

// Device status bits (2.1).
const (
	VirtioStatusAcknowledge = 1
	VirtioStatusDriver      = 2
	VirtioStatusDriverOK    = 4
	VirtioStatusFeaturesOK  = 8
	VirtioStatusNeedsReset  = 0x40
	VirtioStatusFailed      = 0x80
)

// Transport feature bits (6).
const (
	VirtioFIndirectDesc = 1 << 28 // VIRTIO_F_INDIRECT_DESC
	VirtioFEventIdx     = 1 << 29 // VIRTIO_F_EVENT_IDX
	VirtioFVersion1     = 1 << 32 // VIRTIO_F_VERSION_1
)

// VirtioVendorUnigo is the unigo launcher's virtio-mmio VendorID ("UGO\0"
// little-endian). Its devices raise a fresh edge (an irqfd write) for
// every interrupt whether or not InterruptStatus was acknowledged, so an
// edge-triggered driver need not read and acknowledge it (two exits to
// the launcher per interrupt).
const VirtioVendorUnigo = 0x004f4755

// virtio-mmio registers, version 2 (4.2.2).
const (
	VirtioMMIOMagicValue        = 0x000
	VirtioMMIOVersion           = 0x004
	VirtioMMIODeviceID          = 0x008
	VirtioMMIOVendorID          = 0x00c
	VirtioMMIODeviceFeatures    = 0x010
	VirtioMMIODeviceFeaturesSel = 0x014
	VirtioMMIODriverFeatures    = 0x020
	VirtioMMIODriverFeaturesSel = 0x024
	VirtioMMIOQueueSel          = 0x030
	VirtioMMIOQueueNumMax       = 0x034
	VirtioMMIOQueueNum          = 0x038
	VirtioMMIOQueueReady        = 0x044
	VirtioMMIOQueueNotify       = 0x050
	VirtioMMIOInterruptStatus   = 0x060
	VirtioMMIOInterruptACK      = 0x064
	VirtioMMIOStatus            = 0x070
	VirtioMMIOQueueDescLow      = 0x080
	VirtioMMIOQueueDescHigh     = 0x084
	VirtioMMIOQueueDriverLow    = 0x090
	VirtioMMIOQueueDriverHigh   = 0x094
	VirtioMMIOQueueDeviceLow    = 0x0a0
	VirtioMMIOQueueDeviceHigh   = 0x0a4
	VirtioMMIOSHMSel            = 0x0ac
	VirtioMMIOSHMLenLow         = 0x0b0
	VirtioMMIOSHMLenHigh        = 0x0b4
	VirtioMMIOSHMBaseLow        = 0x0b8
	VirtioMMIOSHMBaseHigh       = 0x0bc
	VirtioMMIOConfigGeneration  = 0x0fc
	VirtioMMIOConfig            = 0x100

	// VirtioMMIOMagic is "virt" little-endian; VirtioMMIOVersion2 the
	// non-legacy register layout, the only one unigo speaks.
	VirtioMMIOMagic    = 0x74726976
	VirtioMMIOVersion2 = 2
)

// InterruptStatus bits (4.2.2).
const (
	VirtioIntUsedBuffer   = 1
	VirtioIntConfigChange = 2
)

// Split virtqueue descriptor and ring flags (2.7.5, 2.7.6, 2.7.8).
const (
	VirtqDescFNext         = 1
	VirtqDescFWrite        = 2
	VirtqDescFIndirect     = 4
	VirtqAvailFNoInterrupt = 1
	VirtqUsedFNoNotify     = 1
	VirtqDescSize          = 16
	VirtqMaxSize           = 32768 // the largest split virtqueue
)

// virtio-net feature bits (5.1.3).
const (
	VirtioNetFCsum      = 1 << 0  // driver may send partially checksummed packets
	VirtioNetFGuestCsum = 1 << 1  // device may send packets flagged DATA_VALID
	VirtioNetFMTU       = 1 << 3  // config mtu is valid
	VirtioNetFMAC       = 1 << 5  // config mac is valid
	VirtioNetFGuestTSO4 = 1 << 7  // device may send TCPv4 super-frames
	VirtioNetFGuestTSO6 = 1 << 8  // ... TCPv6
	VirtioNetFGuestECN  = 1 << 9  // ... with the ECN bit
	VirtioNetFHostTSO4  = 1 << 11 // driver may send TCPv4 super-frames
	VirtioNetFHostTSO6  = 1 << 12 // ... TCPv6
	VirtioNetFHostECN   = 1 << 13 // ... with the ECN bit
	VirtioNetFMrgRxbuf  = 1 << 15 // a packet may span several receive chains
	VirtioNetFStatus    = 1 << 16 // config status is valid
	VirtioNetFCtrlVQ    = 1 << 17
	VirtioNetFMQ        = 1 << 22
)

// virtio-net configuration space (struct virtio_net_config, 5.1.4).
const (
	VirtioNetCfgMAC      = 0
	VirtioNetCfgStatus   = 6
	VirtioNetCfgMaxPairs = 8
	VirtioNetCfgMTU      = 10
	VirtioNetCfgSize     = 12

	VirtioNetSLinkUp = 1 // status: link up
)

// struct virtio_net_hdr_v1 (5.1.6), which starts every packet once
// VIRTIO_F_VERSION_1 is negotiated.
const (
	VirtioNetHdrSize = 12

	VirtioNetHdrFNeedsCsum = 1 // csum_start/csum_offset say where the checksum goes
	VirtioNetHdrFDataValid = 2 // the device validated the checksums
	VirtioNetHdrGSONone    = 0
	VirtioNetHdrGSOTCPv4   = 1
	VirtioNetHdrGSOUDP     = 3
	VirtioNetHdrGSOTCPv6   = 4
	VirtioNetHdrGSOECN     = 0x80
)
