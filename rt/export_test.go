package rt

// SyscallLandingPCs exposes syscallLandingPCs to the layout tests.
var SyscallLandingPCs = syscallLandingPCs
