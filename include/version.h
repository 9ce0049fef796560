/* SPDX-License-Identifier: MIT */
/* include/version.h - the release of custody, shown by --version and in
 * the reports the policy checker writes (SARIF tool version). */
#ifndef CUST_VERSION_H
#define CUST_VERSION_H

#define CUSTODY_VERSION "0.1.0"

#endif
