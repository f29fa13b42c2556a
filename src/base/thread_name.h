#pragma once
// Names the calling thread, so `top -H`, perf and gdb tell the executors, the journal writer
// and the I/O threads apart. Linux keeps 15 bytes of it; longer names are cut.

#include <string>

namespace qrpay {

void set_current_thread_name(const std::string& name);

}  // namespace qrpay
