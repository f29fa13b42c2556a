#include "base/thread_name.h"

#include <pthread.h>

namespace qrpay {

void set_current_thread_name(const std::string& name) {
    constexpr std::size_t linux_name_bytes_max = 15;
    std::string cut = name.substr(0, linux_name_bytes_max);
    (void)pthread_setname_np(pthread_self(), cut.c_str());  // only a debugging aid
}

}  // namespace qrpay
