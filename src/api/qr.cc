#include "api/qr.h"

#include <png.h>
#include <qrencode.h>

#include <memory>
#include <vector>

namespace qrpay::api {
namespace {

constexpr int quiet_zone_modules = 4;
constexpr int png_pixels_per_module = 8;
constexpr std::size_t text_bytes_max = 64;

struct QrDeleter {
    void operator()(QRcode* code) const { QRcode_free(code); }
};
using QrPtr = std::unique_ptr<QRcode, QrDeleter>;

Result<QrPtr> encode(const std::string& text) {
    if (text.empty() || text.size() > text_bytes_max) {
        return Status(Errc::invalid_argument, "QR text must be 1 to 64 bytes");
    }
    QrPtr code(QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
    if (!code) {
        return Status(Errc::io_error, "QR encoding failed");
    }
    return code;
}

bool dark(const QRcode& code, int x, int y) {
    return (code.data[static_cast<std::size_t>(y) * static_cast<std::size_t>(code.width) +
                      static_cast<std::size_t>(x)] &
            1) != 0;
}

void append_png_bytes(png_structp png, png_bytep data, png_size_t length) {
    auto* out = static_cast<std::string*>(png_get_io_ptr(png));
    out->append(reinterpret_cast<const char*>(data), length);
}

}  // namespace

Result<std::string> qr_svg(const std::string& text) {
    auto code = encode(text);
    if (!code.ok()) {
        return code.status();
    }
    const QRcode& qr = **code;
    int size = qr.width + 2 * quiet_zone_modules;
    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
                      std::to_string(size) + " " + std::to_string(size) +
                      "\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" "
                      "fill=\"#fff\"/><path fill=\"#000\" d=\"";
    for (int y = 0; y < qr.width; ++y) {
        for (int x = 0; x < qr.width; ++x) {
            if (dark(qr, x, y)) {
                svg += "M" + std::to_string(x + quiet_zone_modules) + "," +
                       std::to_string(y + quiet_zone_modules) + "h1v1h-1z";
            }
        }
    }
    svg += "\"/></svg>\n";
    return svg;
}

Result<std::string> qr_png(const std::string& text) {
    auto code = encode(text);
    if (!code.ok()) {
        return code.status();
    }
    const QRcode& qr = **code;
    const int modules = qr.width + 2 * quiet_zone_modules;
    const int pixels = modules * png_pixels_per_module;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (info == nullptr) {
        png_destroy_write_struct(&png, nullptr);
        return Status(Errc::io_error, "PNG writer could not start");
    }
    std::string out;
    // libpng reports errors by longjmp; nothing below owns resources that a jump would leak
    // except `png`/`info`, freed on both paths.
    if (setjmp(png_jmpbuf(png)) != 0) {  // NOLINT(cert-err52-cpp)
        png_destroy_write_struct(&png, &info);
        return Status(Errc::io_error, "PNG encoding failed");
    }
    png_set_write_fn(png, &out, append_png_bytes, nullptr);
    png_set_IHDR(png, info, static_cast<png_uint_32>(pixels), static_cast<png_uint_32>(pixels), 8,
                 PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    std::vector<png_byte> row(static_cast<std::size_t>(pixels));
    for (int py = 0; py < pixels; ++py) {
        int y = py / png_pixels_per_module - quiet_zone_modules;
        for (int px = 0; px < pixels; ++px) {
            int x = px / png_pixels_per_module - quiet_zone_modules;
            bool inside = x >= 0 && y >= 0 && x < qr.width && y < qr.width;
            row[static_cast<std::size_t>(px)] = inside && dark(qr, x, y) ? 0 : 255;
        }
        png_write_row(png, row.data());
    }
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
}

}  // namespace qrpay::api
