// Starts an embedded Neo4j Community server with the Bolt connector on 127.0.0.1, for ckn's
// development, tests and CI (no Docker needed). Run by scripts/neo4j_dev.py, which resolves the
// class path from pom.xml with Maven. Arguments: DATA_DIR PORT PASSWORD PAGE_CACHE_MB GROUPING, the
// relationship count past which a node keeps its relationships apart by type and direction.
// Prints "CKN_NEO4J_READY <port>" once Bolt accepts connections; stops cleanly on SIGTERM.

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

public class CknNeo4j {
    public static void main(String[] args) throws Exception {
        Path home = Path.of(args[0]);
        int port = Integer.parseInt(args[1]);
        String password = args[2];
        long pageCacheMb = Long.parseLong(args[3]);
        int grouping = Integer.parseInt(args[4]);

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(pageCacheMb))
                .setConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofMinutes(5))
                .setConfig(GraphDatabaseSettings.dense_node_threshold, grouping)
                .build();

        // A fresh store has user neo4j/neo4j with a forced change; set the password the tests use.
        dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED",
                java.util.Map.of("pw", password));

        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            dbms.shutdown();
            stop.countDown();
        }));
        System.out.println("CKN_NEO4J_READY " + port);
        System.out.flush();
        stop.await();
    }
}
