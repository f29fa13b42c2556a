#include "api/qr.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace qrpay::api {
namespace {

TEST(Qr, SvgIsAnSvgDocument) {
    auto svg = qr_svg("12345678901234567890");
    ASSERT_TRUE(svg.ok());
    EXPECT_EQ(svg->rfind("<svg", 0), 0U);
    EXPECT_NE(svg->find("</svg>"), std::string::npos);
}

TEST(Qr, RefusesOversizedText) {
    EXPECT_EQ(qr_svg(std::string(65, '1')).status().code(), Errc::invalid_argument);
    EXPECT_EQ(qr_png("").status().code(), Errc::invalid_argument);
}

// zbarimg (a real decoder) reads the PNG back to the code.
TEST(Qr, PngDecodesBackToTheCode) {
    const std::string code = "09876543210987654321";
    auto png = qr_png(code);
    ASSERT_TRUE(png.ok());
    EXPECT_EQ(png->substr(1, 3), "PNG");
    char path[] = "/tmp/qrpay-qr-XXXXXX.png";
    int fd = mkstemps(path, 4);
    ASSERT_GE(fd, 0);
    ::close(fd);
    std::ofstream(path, std::ios::binary) << *png;
    std::string command = std::string("zbarimg --quiet --raw ") + path;
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char line[128] = {};
    ASSERT_NE(fgets(line, sizeof line, pipe), nullptr);
    pclose(pipe);
    std::remove(path);
    EXPECT_EQ(std::string(line).substr(0, code.size()), code);
}

}  // namespace
}  // namespace qrpay::api
