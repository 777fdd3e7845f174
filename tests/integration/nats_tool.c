/*
 * nats_tool.c - what bridge_nats.sh asks of a NATS JetStream cluster,
 * through nats.c (the client ferryd's bridge uses too):
 *
 *   nats_tool URLS create STREAM SUBJECT REPLICAS DUP_SECONDS
 *	create the stream (retried while the cluster elects its leader)
 *   nats_tool URLS count STREAM FILTER
 *	read every message of the stream on FILTER and print
 *	"messages N unique M" (M: distinct Nats-Msg-Id headers)
 *   nats_tool URLS publish SUBJECT N DEST
 *	publish N messages ("out-I", Nats-Msg-Id out-I, Ferry-To: DEST)
 *
 * URLS: comma-separated nats:// URLs.  Exit 0, 1 on a failure (said on
 * stderr), 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

static int
fail(const char *what, natsStatus s, jsErrCode e)
{
	fprintf(stderr, "nats_tool: %s: %s (%s, jetstream %d)\n", what,
		natsStatus_GetText(s), nats_GetLastError(NULL), (int)e);
	return 1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
create(jsCtx *js, char **argv)
{
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode e = 0;
	const char *subj[1] = {argv[1]};
	natsStatus s = NATS_ERR;

	jsStreamConfig_Init(&sc);
	sc.Name = argv[0];
	sc.Subjects = subj;
	sc.SubjectsLen = 1;
	sc.Replicas = atoi(argv[2]);
	sc.Duplicates = (int64_t)atoi(argv[3]) * 1000000000LL;
	sc.Storage = js_FileStorage;
	for (int i = 0; i < 60; i++) {
		s = js_AddStream(&si, js, &sc, NULL, &e);
		if (s == NATS_OK)
			break;
		usleep(500000); /* no leader yet */
	}
	if (s != NATS_OK)
		return fail("create", s, e);
	jsStreamInfo_Destroy(si);
	return 0;
}

static int
count(jsCtx *js, char **argv)
{
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode e = 0;
	char **ids = NULL;
	size_t n = 0, cap = 0, uniq = 0;
	natsStatus s;

	jsSubOptions_Init(&so);
	so.Stream = argv[0];
	so.Config.AckPolicy = js_AckNone;
	so.Config.DeliverPolicy = js_DeliverAll;
	for (int t = 0; t < 40; t++) {
		s = js_PullSubscribe(&sub, js, argv[1], NULL, NULL, &so, &e);
		if (s == NATS_OK)
			break;
		usleep(250000); /* a leader being elected */
	}
	if (s != NATS_OK)
		return fail("subscribe", s, e);
	for (;;) {
		natsMsgList l = {0};
		s = natsSubscription_Fetch(&l, sub, 256, 2000, &e);
		if (s == NATS_TIMEOUT)
			break;
		if (s != NATS_OK)
			return fail("fetch", s, e);
		for (int i = 0; i < l.Count; i++) {
			const char *v = NULL;
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				ids = realloc(ids, cap * sizeof(*ids));
				if (ids == NULL)
					return 1;
			}
			if (natsMsgHeader_Get(l.Msgs[i], "Nats-Msg-Id", &v) !=
				NATS_OK ||
			    v == NULL)
				v = "";
			ids[n++] = strdup(v);
		}
		natsMsgList_Destroy(&l);
	}
	qsort(ids, n, sizeof(*ids), cmp_str);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
			uniq++;
	printf("messages %zu unique %zu\n", n, uniq);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	natsSubscription_Destroy(sub);
	return 0;
}

static int
publish(jsCtx *js, char **argv)
{
	int n = atoi(argv[1]);

	for (int i = 0; i < n; i++) {
		natsMsg *m = NULL;
		jsPubAck *pa = NULL;
		jsPubOptions po;
		jsErrCode e = 0;
		char body[32];
		natsStatus s;

		snprintf(body, sizeof(body), "out-%d", i);
		s = natsMsg_Create(&m, argv[0], NULL, body, (int)strlen(body));
		if (s == NATS_OK)
			s = natsMsgHeader_Set(m, "Ferry-To", argv[2]);
		jsPubOptions_Init(&po);
		po.MsgId = body;
		for (int t = 0; s == NATS_OK && t < 40; t++) {
			s = js_PublishMsg(&pa, js, m, &po, &e);
			if (s == NATS_OK || t == 39)
				break;
			s = NATS_OK; /* a leader changing: again */
			usleep(250000);
		}
		natsMsg_Destroy(m);
		if (s != NATS_OK)
			return fail("publish", s, e);
		jsPubAck_Destroy(pa);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	natsConnection *nc = NULL;
	natsOptions *o = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	const char *urls[8];
	int nurls = 0, rc = 2;
	char *list, *save = NULL;
	natsStatus s;

	if (argc < 3)
		return 2;
	list = strdup(argv[1]);
	for (char *t = strtok_r(list, ",", &save); t != NULL && nurls < 8;
	     t = strtok_r(NULL, ",", &save))
		urls[nurls++] = t;
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetServers(o, urls, nurls);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, 60);
	for (int t = 0; s == NATS_OK && t < 40; t++) {
		s = natsConnection_Connect(&nc, o);
		if (s != NATS_NO_SERVER || t == 39)
			break;
		s = NATS_OK; /* not listening yet */
		usleep(250000);
	}
	if (s == NATS_OK) {
		jsOptions_Init(&jo);
		jo.Wait = 5000;
		s = natsConnection_JetStream(&js, nc, &jo);
	}
	if (s != NATS_OK)
		return fail("connect", s, 0);
	if (strcmp(argv[2], "create") == 0 && argc == 7)
		rc = create(js, argv + 3);
	else if (strcmp(argv[2], "count") == 0 && argc == 5)
		rc = count(js, argv + 3);
	else if (strcmp(argv[2], "publish") == 0 && argc == 6)
		rc = publish(js, argv + 3);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(o);
	free(list);
	nats_Close();
	return rc;
}
