// The one translation unit that compiles Asio's and Beast's non-template code
// (BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION are set for the whole
// http target), so that the other files only instantiate the templates they use.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
