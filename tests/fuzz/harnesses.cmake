# The fuzz harnesses, each with exactly the libraries it exercises
# ("NAME:LIBRARY:..."); tests/CMakeLists.txt runs them over their seeds,
# tests/fuzz/CMakeLists.txt builds them for libFuzzer.
set(p2v_fuzz_harnesses
  fuzz-console:p2v-check:p2v-vm
  fuzz-disk-probe-result:p2v-disk
  fuzz-guest-text:p2v-guest
  fuzz-inf:p2v-driver-catalogs
  fuzz-linux-catalog-json:p2v-driver-catalogs
  fuzz-live-settings:p2v-live-core
  fuzz-modalias:p2v-driver-catalogs
  fuzz-nbd-handshake:p2v-nbd
  fuzz-nbd-request:p2v-nbd
  fuzz-nbd-session:p2v-nbd
  fuzz-ntfs-ioctl:p2v-disk
  fuzz-survey-json:p2v-survey)
