/**
 * @file export.h
 * @brief Symbol visibility: the library is built with hidden visibility and
 * PN_EXPORT marks the public API.
 */
#ifndef PINODE_EXPORT_H
#define PINODE_EXPORT_H

#if defined(__GNUC__)
#define PN_EXPORT __attribute__((visibility("default")))
#else
#define PN_EXPORT
#endif

#endif
